#!/usr/bin/env python3
"""Benchmarks betterform against GNU make and the fork/exec floor, in the same run.

For a layered DAG of N stages (each depending on 2 stages of the previous layer, 3 small
templates using cfg, a no-op ctl) it generates an equivalent GNU make build: one rule per stage
that renders the templates with sed, copies ctl, runs `ctl up` and touches a sentinel, with the
stage's template files and its dependencies' sentinels as prerequisites. Then it times:

  fresh      `betterform up -j2` vs `make -r -j2` from an empty genfiles (a new dir each run)
  no-op      the same again with everything up to date; then `plan` and `status` of it
  overhead   per-stage scheduling overhead of `betterform up -j1 -B` (total minus the sum of
             ctl run times, over stages), against a shell loop that only runs each ctl (the
             fork/exec floor)
  stamping   stamping a 10 000-file template tree vs `cp -a` of it
  jsonnet    a large config: the embedded engine (`betterform config`) vs the C++ `jsonnet` CLI
  memory     peak RSS of `betterform up -j2` at 1000 stages (/usr/bin/time -v)

usage: bench/compare.py [--stages N] [--runs R] [--quick]   (builds the release binary first)
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "betterform")
sys.path.insert(0, os.path.join(ROOT, "bench"))
from gen_dag import generate_library  # noqa: E402


def sh(cmd, cwd, env=None, quiet=True):
    out = subprocess.DEVNULL if quiet else None
    e = dict(os.environ, INTERACTIVE="false", **(env or {}))
    for var in ("IMPL_DIR", "GENFILES", "OUTPUT_DIR", "CONFIG_JSONNET_FILE", "CONFIG_JSON_FILE"):
        if env is None or var not in env:
            e.pop(var, None)
    r = subprocess.run(cmd, cwd=cwd, env=e, stdout=out, stderr=out, shell=isinstance(cmd, str))
    if r.returncode != 0:
        sys.exit(f"failed: {cmd} in {cwd}")


def timed(cmd, cwd, runs, before=None, env=None):
    """Best and median wall-clock seconds of `runs` runs; `before` runs untimed each time."""
    times = []
    for _ in range(runs):
        if before:
            before()
        start = time.perf_counter()
        sh(cmd, cwd, env)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def timed_pair(a, b, cwd, runs, before=None, env=None):
    """Like `timed` for two commands, alternating a, b, a, b...: both see the same machine
    state (page cache, the filesystem's backlog of recently freed inodes), which drifts
    during a benchmark."""
    ta, tb = [], []
    for _ in range(runs):
        for cmd, times in ((a, ta), (b, tb)):
            if before:
                before()
            start = time.perf_counter()
            sh(cmd, cwd, env)
            times.append(time.perf_counter() - start)
    return (min(ta), statistics.median(ta)), (min(tb), statistics.median(tb))


def fresh_pair(bf, deploy, runs):
    """Fresh runs, alternating betterform and make (`make -r`: no built-in rules), each into new genfiles dirs. Nothing is
    deleted while timing: on ext4 without a journal (these machines), allocating an inode
    scans past every inode freed in the last minutes, so `rm -rf` of the previous run's
    thousands of files would make each run slower than the last, for both tools alike."""
    ta, tb = [], []
    for i in range(runs):
        for tool, times in (("bf", ta), ("make", tb)):
            start = time.perf_counter()
            if tool == "bf":
                sh(bf, deploy, env={"GENFILES": f"fresh-{i}/genfiles", "OUTPUT_DIR": f"fresh-{i}/output"})
            else:
                sh(f"make -r -s -j2 G=fresh-{i}/make-genfiles", deploy)
            times.append(time.perf_counter() - start)
    # Left for the final cleanup: deleting thousands of files here would keep the disk busy
    # (discards, inode scans) while the next benchmarks are timed.
    return (min(ta), statistics.median(ta)), (min(tb), statistics.median(tb))


def generate(out, n, width=20):
    """A layered DAG with a betterform library under out/impl and a Makefile under out/deploy."""
    impl = os.path.join(out, "impl")
    deploy = os.path.join(out, "deploy")
    deps_of = generate_library(impl, n, width)
    names = list(deps_of)
    os.makedirs(deploy)
    with open(os.path.join(deploy, "config.jsonnet"), "w") as f:
        f.write("{ region: 'eu-north-1' }\n")
    # The make equivalent: render with sed, copy ctl, run it, touch a sentinel.
    lines = ["IMPL := ../impl", "G := make-genfiles", f"all: {' '.join(f'$(G)/{s}/.done' for s in names)}", ""]
    for s in names:
        prereqs = [f"$(IMPL)/{s}/file{j}.tf" for j in range(3)] + [f"$(IMPL)/{s}/ctl"]
        prereqs += [f"$(G)/{d}/.done" for d in deps_of[s]]
        lines.append(f"$(G)/{s}/.done: {' '.join(prereqs)}")
        lines.append(
            f"\tmkdir -p $(G)/{s} && for f in file0.tf file1.tf file2.tf; do "
            f"sed -e 's/{{{{ stage_name }}}}/{s}/g' -e 's/{{{{ cfg.region }}}}/eu-north-1/g' "
            f"$(IMPL)/{s}/$$f > $(G)/{s}/$$f; done && cp -p $(IMPL)/{s}/ctl $(G)/{s}/ctl && "
            f"cd $(G)/{s} && ./ctl up && touch .done"
        )
    with open(os.path.join(deploy, "Makefile"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return deploy, names


def clean(deploy):
    def run():
        for d in ("genfiles", "make-genfiles", "output"):
            shutil.rmtree(os.path.join(deploy, d), ignore_errors=True)
    return run


def ratio(a, b):
    return f"{a / b:.2f}x" if b else "n/a"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stages", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="skip the 10k-file, jsonnet and 1000-stage runs")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="betterform-bench-")
    results = []
    try:
        deploy, names = generate(os.path.join(tmp, "dag"), args.stages)
        bf = f"{BIN} --impl-dir ../impl up -j 2"
        fresh_bf, fresh_make = fresh_pair(bf, deploy, args.runs)
        results.append((f"fresh up -j2, {args.stages} stages", fresh_bf, fresh_make, "make -j2"))
        sh(bf, deploy)
        sh("make -r -s -j2", deploy)
        noop_bf, noop_make = timed_pair(bf, "make -r -s -j2", deploy, max(args.runs, 10))
        results.append((f"no-op up -j2, {args.stages} stages", noop_bf, noop_make, "make -r -j2"))
        for command in ("plan", "status"):
            t = timed(f"{BIN} --impl-dir ../impl {command}", deploy, max(args.runs, 10))
            results.append((f"{command}, {args.stages} stages (all up)", t, None, "target < 50 ms at 3000"))
        # The fork/exec floor: only running every ctl, in DAG order, from a shell loop.
        floor_cmd = "for s in " + " ".join(names) + "; do (cd genfiles/$s && ./ctl up); done"
        j1, floor = timed_pair(f"{BIN} --impl-dir ../impl up -j 1 -B", floor_cmd, deploy, args.runs)
        results.append((f"up -j1 -B, {args.stages} stages", j1, floor, "bare ctl loop"))
        per_stage_ms = (j1[1] - floor[1]) / args.stages * 1000

        if not args.quick:
            big = os.path.join(tmp, "big")
            tree = os.path.join(big, "impl", "tree")
            os.makedirs(tree)
            with open(os.path.join(big, "impl", "betterform_dag.mk"), "w") as f:
                f.write("$(call define_stage, tree, )\n")
            with open(os.path.join(tree, "ctl"), "w") as f:
                f.write("#!/bin/sh\nexit 0\n")
            os.chmod(os.path.join(tree, "ctl"), 0o755)
            for i in range(10000):
                sub = os.path.join(tree, f"d{i // 100:03d}")
                os.makedirs(sub, exist_ok=True)
                with open(os.path.join(sub, f"f{i:05d}.txt"), "w") as f:
                    f.write(f"file {i} of {{{{ stage_name }}}} in {{{{ cfg.region }}}}\n" * 4)
            bdeploy = os.path.join(big, "deploy")
            os.makedirs(bdeploy)
            with open(os.path.join(bdeploy, "config.jsonnet"), "w") as f:
                f.write("{ region: 'eu-north-1' }\n")
            stamp, cp = timed_pair(
                f"{BIN} --impl-dir ../impl stamp", "rm -rf copy && cp -a ../impl/tree copy", bdeploy, args.runs,
                before=clean(bdeploy),
            )
            results.append(("stamp 10 000 files", stamp, cp, "cp -a"))

            # A large config: 2000 objects built with comprehensions and std functions.
            cfg = os.path.join(bdeploy, "big.jsonnet")
            with open(cfg, "w") as f:
                f.write(
                    "local n = 2000;\n{ items: [ { id: i, name: 'item-%05d' % i, tags: std.map(function(t) t + '-' + i, ['a','b','c']),"
                    " sq: std.pow(i, 2), nested: { x: i % 7, y: std.join('-', [std.toString(i), 'x']) } } for i in std.range(1, n) ],"
                    " index: { ['k%d' % i]: i * 3 for i in std.range(1, n) } }\n"
                )
            env = {"CONFIG_JSONNET_FILE": cfg}
            ours = timed(f"{BIN} --impl-dir ../impl config", bdeploy, args.runs, env=env)
            if shutil.which("jsonnet"):
                theirs = timed(f"jsonnet {cfg}", bdeploy, args.runs)
                results.append(("jsonnet, 2000-object config", ours, theirs, "C++ jsonnet"))
            else:
                results.append(("jsonnet, 2000-object config", ours, None, "C++ jsonnet (not installed)"))

            deploy1k, _ = generate(os.path.join(tmp, "dag1k"), 1000)
            t = subprocess.run(
                ["/usr/bin/time", "-v", BIN, "--impl-dir", "../impl", "up", "-j", "2"],
                cwd=deploy1k, capture_output=True, text=True,
                env=dict(os.environ, INTERACTIVE="false"),
            )
            rss = next(int(l.split()[-1]) for l in t.stderr.splitlines() if "Maximum resident" in l)
            results.append(("peak RSS, up -j2 of 1000 stages", None, None, f"{rss / 1024:.1f} MiB"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'benchmark':<36} {'betterform':>22} {'baseline':>22}  ratio (median)")
    for name, ours, theirs, label in results:
        fmt = lambda t: f"{t[0] * 1000:8.1f} / {t[1] * 1000:8.1f} ms" if t else ""
        r = ratio(ours[1], theirs[1]) if ours and theirs else ""
        print(f"{name:<36} {fmt(ours):>22} {fmt(theirs):>22}  {r}  vs {label}")
    print(f"per-stage overhead at -j1: {per_stage_ms:.2f} ms (median, over the bare ctl loop)")
    print("(times are best / median of the runs)")


if __name__ == "__main__":
    main()
