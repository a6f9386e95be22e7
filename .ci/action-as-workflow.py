"""Prints action.yml's composite steps as a workflow, so that actionlint checks them too.

actionlint checks workflows, not action metadata. The action's inputs become the inputs of a
reusable workflow (so that `inputs.*` resolves), and its steps become one job's steps.
Usage: python3 .ci/action-as-workflow.py action.yml > action-steps.yml
"""

import json
import sys

import yaml


def main(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        action = yaml.safe_load(handle)
    if action.get("runs", {}).get("using") != "composite":
        sys.exit(f"{path}: not a composite action")
    inputs = {
        name: {
            "type": "string",
            "required": bool(spec.get("required", False)),
            "default": str(spec.get("default", "")),
            "description": spec.get("description", ""),
        }
        for name, spec in (action.get("inputs") or {}).items()
    }
    workflow = {
        "name": f"steps of {path}",
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}},
    }
    # JSON is YAML, and keeps `on` a string key.
    json.dump(workflow, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
