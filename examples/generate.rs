//! A synthetic access repository at any scale, for benchmarks (docs/performance.md).
//!
//! ```sh
//! cargo run --release --example generate -- --files 10000 --commits 20000 --seed 1 --out /tmp/repo
//! tenure --repo /tmp/repo --now 2027-01-01 --format json plan
//! ```
//!
//! The output is a real access repository in the offline git mode: `tenure.yaml`, a catalog of
//! `--resources` groups on one `file` provider, and a first-parent history of `--commits`
//! `--no-ff` merges whose messages carry `Proposed-by:`/`Approved-by:` trailers. The history adds
//! requests, extends them, renames and deletes them, has an admin-approved catalog change now and
//! then, and a few rejected requests (self-approved, or pushed without review); some requests
//! expire before the suggested `--now` (2027-01-01), most do not. At the end exactly `--files`
//! request files live at the tip. `state/local.json` holds most of the live grants, some expired
//! and removed ones (to revoke) and a little drift, so that the plan has work of every kind.
//!
//! Everything comes from the seed, and the whole history is written by one `git fast-import`
//! process: no shell loop, no git process per commit. The working tree holds only `state/`;
//! tenure reads the repository from its objects.

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};

/// 2026-01-01T00:00:00Z: the first commit.
const T0: i64 = 1_767_225_600;
/// The suggested `--now`: 2027-01-01T00:00:00Z.
const NOW: i64 = T0 + 365 * DAY;
const DAY: i64 = 86_400;
/// Resources per catalog file.
const PER_CATALOG_FILE: usize = 200;
/// Groups of owners; each resource is owned by one.
const OWNER_GROUPS: usize = 20;
/// Drift tuples in the state: actual grants that no request backs.
const DRIFT: usize = 20;

struct Args {
    files: usize,
    commits: usize,
    resources: usize,
    seed: u64,
    out: PathBuf,
    /// Whether the history has admin-approved catalog changes (1, the default) or none (0).
    policy_changes: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: generate --files N --commits M [--resources K] [--seed S] [--policy-changes 0|1] --out DIR\n\
         (K defaults to N/5, one group per five memberships as in kubernetes/org; DIR must not exist)"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut files = None;
    let mut commits = None;
    let mut resources = None;
    let mut seed = 1;
    let mut out = None;
    let mut policy_changes = true;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        let number = || value.parse::<u64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--files" => files = Some(number() as usize),
            "--commits" => commits = Some(number() as usize),
            "--resources" => resources = Some(number() as usize),
            "--seed" => seed = number(),
            "--out" => out = Some(PathBuf::from(&value)),
            "--policy-changes" => policy_changes = number() != 0,
            _ => usage(),
        }
    }
    let (Some(files), Some(commits), Some(out)) = (files, commits, out) else { usage() };
    if files == 0 || commits == 0 {
        usage()
    }
    Args { files, commits, resources: resources.unwrap_or(files / 5).max(4), seed, out, policy_changes }
}

/// splitmix64: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
}

/// One request file as it stands at the tip of the generated history so far.
struct Live {
    path: String,
    requester: String,
    resources: BTreeSet<usize>,
    subjects: BTreeSet<String>,
    expires: i64,
    approved: bool,
}

impl Live {
    /// Every grant times every subject, as the file provider names them.
    fn tuples(&self) -> impl Iterator<Item = (usize, String)> + '_ {
        self.resources.iter().flat_map(|r| self.subjects.iter().map(move |s| (*r, s.clone())))
    }

    fn owner_groups(&self) -> BTreeSet<usize> {
        self.resources.iter().map(|r| r % OWNER_GROUPS).collect()
    }
}

fn rfc3339(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .expect("generated times are in range")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn resource(index: usize) -> String {
    format!("local:group/team-{index:05}")
}

fn lead(group: usize, which: char) -> String {
    format!("lead-{group:02}-{which}")
}

fn request_yaml(live: &Live, serial: usize) -> String {
    let mut text = format!("requester: {}\nsubjects:\n", live.requester);
    for subject in &live.subjects {
        text.push_str(&format!("  - {subject}\n"));
    }
    text.push_str(&format!("justification: \"Synthetic request {serial} (OPS-{serial})\"\ngrants:\n"));
    for index in &live.resources {
        text.push_str(&format!("  - {{ resource: {}, role: member }}\n", resource(*index)));
    }
    text.push_str(&format!("expires: {}\nticket: OPS-{serial}\n", rfc3339(live.expires)));
    text
}

fn tenure_yaml() -> String {
    "version: 1\n\
     # forge kind git: approvals are commit trailers, so this mode trusts whoever can write the branch.\n\
     forge: {kind: git}\n\
     branch: main\n\
     admins: [admin-a, admin-b]\n\
     providers:\n  local: {kind: file, path: state/local.json}\n\
     defaults: {approvals: 1, max_duration: 730d}\n\
     safety: {max_revocations: 10%}\n"
        .to_owned()
}

fn catalog_yaml(file: usize, resources: usize, revision: usize) -> String {
    let first = file * PER_CATALOG_FILE;
    let last = (first + PER_CATALOG_FILE).min(resources);
    let mut text = String::from("resources:\n");
    for index in first..last {
        let group = index % OWNER_GROUPS;
        text.push_str(&format!(
            "  - id: {}\n    description: Synthetic team {index} (revision {revision})\n    owners: [\"group:leads-{group:02}\"]\n    roles: [member]\n    allow_empty: true\n",
            resource(index)
        ));
    }
    if file == 0 {
        text.push_str("groups:\n");
        for group in 0..OWNER_GROUPS {
            text.push_str(&format!("  leads-{group:02}: [{}, {}]\n", lead(group, 'a'), lead(group, 'b')));
        }
    }
    text
}

/// Writes fast-import commands for one first-parent change: a side-branch commit, then the
/// `--no-ff` merge into main whose message carries the trailers. Both carry the same edits, so
/// the merge's tree is the side commit's.
struct Stream<W: Write> {
    out: W,
    marks: usize,
    main: Option<usize>,
}

impl<W: Write> Stream<W> {
    fn commit(&mut self, time: i64, title: &str, trailers: &str, ops: &[Op]) -> std::io::Result<()> {
        let body = |out: &mut W, ops: &[Op]| -> std::io::Result<()> {
            for op in ops {
                match op {
                    Op::Write(path, text) => {
                        write!(out, "M 100644 inline {path}\ndata {}\n{text}\n", text.len())?
                    }
                    Op::Delete(path) => writeln!(out, "D {path}")?,
                }
            }
            Ok(())
        };
        let Some(parent) = self.main else {
            // The root: a direct push, trusted on first use.
            self.marks += 1;
            let message = format!("{title}\n");
            write!(
                self.out,
                "commit refs/heads/main\nmark :{}\ncommitter Admin <admin@example.com> {time} +0000\ndata {}\n{message}\n",
                self.marks,
                message.len()
            )?;
            body(&mut self.out, ops)?;
            self.main = Some(self.marks);
            return Ok(());
        };
        self.marks += 1;
        let side = self.marks;
        let message = "work in progress\n";
        write!(
            self.out,
            "commit refs/heads/topic\nmark :{side}\ncommitter Dev <dev@example.com> {} +0000\ndata {}\n{message}from :{parent}\n",
            time - 3600,
            message.len()
        )?;
        body(&mut self.out, ops)?;
        self.marks += 1;
        let merge = self.marks;
        let message =
            if trailers.is_empty() { format!("{title}\n") } else { format!("{title}\n\n{trailers}\n") };
        write!(
            self.out,
            "commit refs/heads/main\nmark :{merge}\ncommitter Merge <merge@example.com> {time} +0000\ndata {}\n{message}from :{parent}\nmerge :{side}\n",
            message.len()
        )?;
        body(&mut self.out, ops)?;
        self.main = Some(merge);
        Ok(())
    }
}

enum Op {
    Write(String, String),
    Delete(String),
}

fn main() -> std::io::Result<()> {
    let args = parse_args();
    if args.out.exists() {
        eprintln!("{} exists; give a new directory", args.out.display());
        std::process::exit(2);
    }
    std::fs::create_dir_all(&args.out)?;
    let git = |argv: &[&str]| {
        let mut command = Command::new("git");
        command
            .current_dir(&args.out)
            .args(argv)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null");
        command
    };
    assert!(git(&["init", "-q", "-b", "main"]).status()?.success(), "git init failed");
    let mut import = git(&["fast-import", "--quiet", "--done"]).stdin(Stdio::piped()).spawn()?;
    let mut stream = Stream {
        out: BufWriter::with_capacity(1 << 20, import.stdin.take().expect("piped")),
        marks: 0,
        main: None,
    };

    let mut rng = Rng(args.seed);
    let catalog_files = args.resources.div_ceil(PER_CATALOG_FILE);
    let mut root_ops = vec![Op::Write("tenure.yaml".into(), tenure_yaml())];
    for file in 0..catalog_files {
        root_ops
            .push(Op::Write(format!("catalog/teams-{file:03}.yaml"), catalog_yaml(file, args.resources, 0)));
    }
    stream.commit(T0, "Initial access policy", "", &root_ops)?;

    let step = ((NOW - T0 - DAY) / args.commits as i64).max(1);
    let mut live: Vec<Live> = Vec::new();
    // Tuples that some approved, since-deleted version granted: candidates for revocation.
    let mut removed: Vec<(usize, String)> = Vec::new();
    let mut serial = 0usize;
    let (mut adds, mut edits, mut renames, mut deletes, mut unwatched, mut policy, mut rejected) =
        (0, 0, 0, 0, 0, 0, 0);
    for commit in 0..args.commits {
        let time = T0 + DAY / 2 + commit as i64 * step;
        let left = args.commits - commit;
        let need = args.files.saturating_sub(live.len());
        let roll = rng.below(100);
        let forced = need >= left;
        let approve = |rng: &mut Rng, group: usize| lead(group, if rng.percent(50) { 'a' } else { 'b' });

        if forced || live.is_empty() || (roll < 50 && need > 0) {
            // Add requests: one, or as many as it takes to reach --files in half the commits left;
            // a batch is one person asking for several teams in one change.
            // Counting on half the commits left for adds keeps renames, deletions and edits in
            // the mix even when --commits is close to --files.
            let count = need.div_ceil(left.div_ceil(2)).max(1);
            let mut ops = Vec::new();
            let mut approvers = BTreeSet::new();
            let self_approved = !forced && rng.percent(1);
            let unreviewed = !forced && !self_approved && rng.percent(1);
            let requester = format!("u{:05}", rng.below(args.files * 2));
            for _ in 0..count {
                serial += 1;
                let team = rng.below(args.resources);
                let mut resources = BTreeSet::from([team]);
                if rng.percent(10) {
                    resources.insert((team + 1 + rng.below(args.resources - 1)) % args.resources);
                }
                let mut subjects = BTreeSet::from([requester.clone()]);
                if rng.percent(5) {
                    subjects.insert(format!("u{:05}", rng.below(args.files * 2)));
                }
                let expires = if rng.percent(10) {
                    time + DAY * (1 + rng.below(60) as i64)
                } else {
                    time + DAY * (370 + rng.below(350) as i64)
                };
                let entry = Live {
                    // Bucketed by hundreds of teams: one flat directory of 20,000 teams would make
                    // every commit rewrite a 20,000-entry tree, slow to write and unlike a real
                    // repository.
                    path: format!("requests/{:03}/team-{team:05}/{requester}-{serial}.yaml", team / 100),
                    requester: requester.clone(),
                    resources,
                    subjects,
                    expires,
                    approved: !self_approved && !unreviewed,
                };
                for group in entry.owner_groups() {
                    approvers.insert(if self_approved {
                        requester.clone()
                    } else {
                        approve(&mut rng, group)
                    });
                }
                ops.push(Op::Write(entry.path.clone(), request_yaml(&entry, serial)));
                live.push(entry);
            }
            adds += count;
            if self_approved || unreviewed {
                rejected += 1;
            }
            let trailers = if unreviewed {
                String::new()
            } else {
                let mut text = format!("Proposed-by: {requester}");
                for approver in &approvers {
                    text.push_str(&format!("\nApproved-by: {approver}"));
                }
                text
            };
            stream.commit(time, &format!("Add access request {serial}"), &trailers, &ops)?;
        } else if roll == 50 && args.policy_changes && rng.percent(50) {
            // An admin-approved catalog change, so that the policy has several trusted versions.
            let file = rng.below(catalog_files);
            let content = catalog_yaml(file, args.resources, commit);
            policy += 1;
            stream.commit(
                time,
                "Describe a team",
                &format!("Proposed-by: {}\nApproved-by: admin-a", lead(0, 'a')),
                &[Op::Write(format!("catalog/teams-{file:03}.yaml"), content)],
            )?;
        } else if roll < 62 {
            unwatched += 1;
            stream.commit(
                time,
                "Update the README",
                "",
                &[Op::Write("README.md".into(), format!("Synthetic access repository, edit {commit}\n"))],
            )?;
        } else if roll < 70 && need + 1 < left && !live.is_empty() {
            let index = rng.below(live.len());
            let entry = live.swap_remove(index);
            if entry.approved {
                removed.extend(entry.tuples());
            }
            deletes += 1;
            stream.commit(
                time,
                "Remove an access request",
                &format!("Proposed-by: {}", entry.requester),
                &[Op::Delete(entry.path)],
            )?;
        } else if roll < 78 {
            // A reviewed rename: a change at the new path, approved again.
            let index = rng.below(live.len());
            let entry = &mut live[index];
            let old = std::mem::take(&mut entry.path);
            entry.path = old.replace(".yaml", "-moved.yaml");
            entry.approved = true;
            let text = request_yaml(entry, commit);
            let mut trailers = format!("Proposed-by: {}", entry.requester);
            for owner in entry.owner_groups() {
                trailers.push_str(&format!("\nApproved-by: {}", lead(owner, 'b')));
            }
            renames += 1;
            stream.commit(
                time,
                "Rename an access request",
                &trailers,
                &[Op::Delete(old), Op::Write(entry.path.clone(), text)],
            )?;
        } else {
            // An approved extension of a live request.
            let index = rng.below(live.len());
            let entry = &mut live[index];
            entry.expires = time + DAY * (370 + rng.below(350) as i64);
            entry.approved = true;
            let owners = entry.owner_groups();
            let mut trailers = format!("Proposed-by: {}", entry.requester);
            for owner in owners {
                trailers.push_str(&format!("\nApproved-by: {}", lead(owner, 'a')));
            }
            edits += 1;
            let text = request_yaml(entry, commit);
            stream.commit(
                time,
                "Extend an access request",
                &trailers,
                &[Op::Write(entry.path.clone(), text)],
            )?;
        }
    }
    writeln!(stream.out, "done")?;
    stream.out.flush()?;
    drop(stream);
    assert!(import.wait()?.success(), "git fast-import failed");
    // fast-import leaves HEAD on main but the index empty; nothing reads the working tree except
    // the file provider, whose state lives outside the history.
    assert!(git(&["branch", "-q", "-D", "topic"]).status()?.success(), "git branch -D failed");

    let mut state = BTreeSet::new();
    for entry in &live {
        let live_now = entry.approved && entry.expires > NOW;
        let keep = if live_now { rng.percent(95) } else { entry.approved && rng.percent(50) };
        if keep {
            state.extend(entry.tuples());
        }
    }
    for tuple in &removed {
        if rng.percent(30) {
            state.insert(tuple.clone());
        }
    }
    for drift in 0..DRIFT {
        state.insert((rng.below(args.resources), format!("ghost-{drift}")));
    }
    let grants: Vec<serde_json::Value> = state
        .iter()
        .map(|(index, subject)| {
            serde_json::json!({
                "resource": resource(*index).trim_start_matches("local:"),
                "role": "member",
                "subject": subject,
            })
        })
        .collect();
    std::fs::create_dir_all(args.out.join("state"))?;
    std::fs::write(
        args.out.join("state/local.json"),
        serde_json::to_string_pretty(&serde_json::json!({ "grants": grants }))? + "\n",
    )?;
    std::fs::write(args.out.join(".git/info/exclude"), "state/\n")?;

    println!(
        "{}",
        serde_json::json!({
            "out": args.out.display().to_string(),
            "now": rfc3339(NOW),
            "files": live.len(),
            "first_parent_commits": args.commits + 1,
            "resources": args.resources,
            "adds": adds, "edits": edits, "renames": renames, "deletes": deletes,
            "unwatched": unwatched, "policy_changes": policy, "rejected_changes": rejected,
            "state_grants": grants.len(),
        })
    );
    Ok(())
}
