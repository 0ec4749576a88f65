#!/usr/bin/env python3
"""Break kilter by hand, one behaviour at a time, and see whether the suite notices (issue #26,
docs/testing.md "Behaviours no test covered"). Mutation testing changes single operators and
return values; each case here removes a whole rule (a check, a note, a reload, a refusal) the way a
careless edit would.

  scripts/hand-breaks.py --check          does every case still apply to this tree? (no build)
  scripts/hand-breaks.py                  every case: apply it, build, run the unit tests and the
                                          `it` suite, report CAUGHT (with the tests that failed) or
                                          UNNOTICED, then undo it
  scripts/hand-breaks.py ID...            only these cases

It works in a git worktree of HEAD under $TMPDIR (your tree is not touched) with its own target
directory (CARGO_TARGET_DIR, default target/hand-breaks). About 4 minutes a case on 2 cores. A case
whose text no longer matches the code says STALE: update its strings when the code moves.
"""
import os
import subprocess
import sys
import tempfile
import time

# (id, file, text, replacement, what the change breaks)
CASES = [
    ('nodeport-taken', 'src/lifecycle/app.rs',
     '    if let Some(taken) =\n        wired.iter().find(|w| w.ports.iter().any(|p| p.node_port == Some(node_port)))\n',
     '    if let Some(taken) =\n        wired.iter().find(|w| false && w.ports.iter().any(|p| p.node_port == Some(node_port)))\n',
     "the app's NodePort taken by a service (a full block) is not refused"),
    ('route-app-check', 'src/lifecycle/app.rs',
     'pub fn check_route_names(choice: &Choice, routes: &[crate::config::RouteEntry]) -> Result<()> {\n',
     'pub fn check_route_names(choice: &Choice, routes: &[crate::config::RouteEntry]) -> Result<()> {\n    return Ok(());\n',
     'a route named app beside a rendered app is not refused'),
    ('service-app-check-render', 'src/lifecycle/app.rs',
     '    if let Some(clash) = wired.iter().find(|w| w.name == render::APP_NAME) {\n        return Err(app_name_taken(&clash.name));\n    }\n',
     '',
     "render/eject no longer refuse a service named app (only up's early check remains)"),
    ('eject-overwrite', 'src/ops/eject.rs',
     '    if !taken.is_empty() {\n',
     '    if false && !taken.is_empty() {\n',
     'eject overwrites existing files'),
    ('eject-staging', 'src/ops/eject.rs',
     '    for write in staged {\n        ctx.runner.commit(write)?;\n    }\n',
     '    for write in staged.into_iter().take(1) {\n        ctx.runner.commit(write)?;\n    }\n',
     'eject commits only the first staged file'),
    ('gc-no-kilter-files', 'src/ops/gc.rs',
     '        (false, _) => Some(format!("{dir} holds no kilter files; kilter leaves it alone")),\n',
     '        (false, _) => None,\n',
     'gc removes a cache-root directory with no kilter files'),
    ('gc-foreign-files', 'src/ops/gc.rs',
     '        (true, foreign) if !foreign.is_empty() => Some(format!(',
     '        (true, foreign) if false && !foreign.is_empty() => Some(format!(',
     'gc removes a cache dir that also holds foreign files'),
    ('router-false', 'src/lifecycle/router.rs',
     '    if !router::enabled_for(project, &settings) {\n        // `router: false`',
     '    if false {\n        // `router: false`',
     "router: false no longer takes the project's names away"),
    ('router-soft-interrupt', 'src/lifecycle/router.rs',
     '            if matches!(code_of(&e), Code::Interrupted | Code::Timeout) {\n',
     '            if false && matches!(code_of(&e), Code::Interrupted | Code::Timeout) {\n',
     'an interrupt or deadline during the router update is swallowed as a warning'),
    ('router-record', 'src/lifecycle/router.rs',
     '                e.web = web.clone();\n                e.app = app;\n',
     '',
     'the http choices and app port are not recorded'),
    ('tilt-env-note', 'src/lifecycle/bring_up.rs',
     '    for var in tilt::overridden_env() {\n',
     '    for var in tilt::overridden_env().into_iter().take(0) {\n',
     'TILT_PORT/TILT_HOST from the shell are ignored silently'),
    ('tilt-host-flag', 'src/tools/tilt.rs',
     '            "--host",\n            HOST,\n',
     '',
     'Tilt is started without --host 127.0.0.1'),
    ('tilt-leads-group', 'src/tools/tilt.rs',
     '        } else if leads_group(self.pid) {\n',
     '        } else if true {\n',
     "a recorded Tilt that leads no group is taken as kilter's"),
    ('tilt-log-offset', 'src/tools/tilt.rs',
     '        let text = read_from(log, offset);\n',
     '        let text = read_from(log, 0);\n',
     "the start waits on the whole log, older starts' lines included"),
    ('survivors-warned', 'src/exec/effects.rs',
     '        let left = members(&alive);\n        if !left.is_empty() {\n',
     '        let left = members(&alive);\n        if false && !left.is_empty() {\n',
     'processes that survive SIGKILL are not named'),
    ('ci-keeps-reused', 'src/ops/ci.rs',
     '    } else if !created.load(Ordering::SeqCst) {\n',
     '    } else if false && !created.load(Ordering::SeqCst) {\n',
     'ci deletes a cluster it did not create'),
    ('dotenv-carriage-return', 'src/services/wiring.rs',
     "    if v.contains('\\r') {\n",
     "    if false && v.contains('\\r') {\n",
     'a value with a carriage return is written to .env'),
    ('render-unchanged', 'src/app/mod.rs',
     '    if is_current(dir, files) {\n        return Ok(false);\n    }\n',
     '',
     'an unchanged render is rewritten'),
    ('snapshot-sha', 'src/lifecycle/snapshot.rs',
     '        Some(engine::Sent::Report { sha256, .. }) if *sha256 != written.wire_sha256 => {\n',
     '        Some(engine::Sent::Report { sha256, .. }) if false && *sha256 != written.wire_sha256 => {\n',
     'a dump whose bytes arrived altered (same size, other sha256) is kept'),
    ('snapshot-rc', 'src/lifecycle/snapshot.rs',
     '        Some(engine::Sent::Report { rc, tee, .. }) if *rc != 0 || *tee != 0 => Err(Exit::new(\n',
     '        Some(engine::Sent::Report { rc, tee, .. }) if false && (*rc != 0 || *tee != 0) => Err(Exit::new(\n',
     'a dump that failed in the pod while kubectl exec exited 0 is kept when every byte arrived'),
    ('stop-group-first-scan', 'src/exec/effects.rs',
     '        let mut groups = vec![pgid];\n        groups.extend(descendant_groups(&table(), pgid));\n',
     '        let mut groups = vec![pgid];\n',
     "Tilt's commands' groups are not looked up before Tilt is signalled"),
    ('stop-router-refresh', 'src/ops/stop.rs',
     '    crate::lifecycle::router::refresh(ctx, Some((&project, crate::router::NodeState::Stopped)))?;\n',
     '',
     "stop does not reload the router (a stopped project's names keep pointing at it)"),
    ('stop-all-router-refresh', 'src/ops/stop.rs',
     '    crate::lifecycle::router::refresh(ctx, None)?;\n',
     '',
     'stop --all does not reload the router'),
    ('gc-router-refresh', 'src/ops/gc.rs',
     '    crate::lifecycle::router::refresh(ctx, None)?;\n',
     '',
     'gc does not reload the router after releasing slots'),
    ('destroy-router-refresh', 'src/ops/destroy.rs',
     '    lifecycle::router::refresh(ctx, Some((&project, crate::router::NodeState::Absent)))?;\n',
     '',
     'destroy does not reload the router'),
    ('ci-router-after-delete', 'src/ops/ci.rs',
     '        Some(services) => lifecycle::router::after_ci_delete(ctx, project, services),\n',
     '        Some(_services) => Ok(()),\n',
     "ci's deletion does not turn its names to 503"),
    ('render-service-env', 'src/app/render.rs',
     '    vars.extend(input.service_env.iter().cloned());\n',
     '',
     "the app's env lacks the services' in-cluster variables"),
    ('dotenv-expands', 'src/services/wiring.rs',
     '    if python_dotenv_expands(v) {\n',
     '    if false && python_dotenv_expands(v) {\n',
     'a value python-dotenv would expand is written'),
    ('tilt-notleader-kept', 'src/tools/tilt.rs',
     '                files.record\n            ));\n            return Ok(None);\n        }\n    }\n',
     '                files.record\n            ));\n            runner.remove_file(files.record)?;\n            return Ok(None);\n        }\n    }\n',
     'a record naming a process that leads no group is removed as if Tilt stopped'),
    ('tilt-stale-removed', 'src/tools/tilt.rs',
     '            runner.remove_file(files.record)?;\n            return Ok(None);\n        }\n        Liveness::NotLeader',
     '            return Ok(None);\n        }\n        Liveness::NotLeader',
     'a stale Tilt record is left behind'),]


def run(args, cwd, env=None):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)


def main():
    argv = sys.argv[1:]
    check = "--check" in argv
    only = [a for a in argv if not a.startswith("--")]
    unknown = set(only) - {c[0] for c in CASES}
    if unknown:
        sys.exit(f"unknown case(s): {', '.join(sorted(unknown))}")
    root = run(["git", "rev-parse", "--show-toplevel"], os.getcwd()).stdout.strip()
    cases = [c for c in CASES if not only or c[0] in only]
    if check:
        stale = 0
        for cid, path, text, _, what in cases:
            n = open(os.path.join(root, path)).read().count(text)
            print(f"{cid}: {'ok' if n == 1 else f'STALE ({n} matches)'} — {what}")
            stale += n != 1
        sys.exit(1 if stale else 0)
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.join(root, "target", "hand-breaks"))
    tree = tempfile.mkdtemp(prefix="kilter-hand-breaks.")
    os.rmdir(tree)
    if run(["git", "worktree", "add", "--detach", tree, "HEAD"], root).returncode != 0:
        sys.exit("git worktree add failed")
    unnoticed = 0
    try:
        for cid, path, text, replacement, what in cases:
            file = os.path.join(tree, path)
            source = open(file).read()
            if source.count(text) != 1:
                print(f"{cid}: STALE — {what}", flush=True)
                continue
            open(file, "w").write(source.replace(text, replacement))
            started = time.time()
            try:
                built = run(["cargo", "test", "--locked", "-q", "--no-run"], tree, env)
                if built.returncode != 0:
                    print(f"{cid}: DOES NOT BUILD — {what}\n{built.stderr[-1500:]}", flush=True)
                    continue
                failed = []
                for which in (["--lib"], ["--test", "it"]):
                    r = run(["cargo", "test", "--locked", "-q", *which], tree, env)
                    if r.returncode != 0:
                        names = [l.strip() for l in r.stdout.splitlines()
                                 if l.startswith("    ") and "::" in l]
                        failed += names or [f"(the {which[-1]} tests failed)"]
                verdict = "CAUGHT" if failed else "UNNOTICED"
                unnoticed += not failed
                print(f"{cid}: {verdict} in {time.time() - started:.0f}s — {what}", flush=True)
                for name in failed[:12]:
                    print(f"    {name}", flush=True)
            finally:
                open(file, "w").write(source)
    finally:
        run(["git", "worktree", "remove", "--force", tree], root)
    sys.exit(1 if unnoticed else 0)


if __name__ == "__main__":
    main()
