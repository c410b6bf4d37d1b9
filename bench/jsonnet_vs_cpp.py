#!/usr/bin/env python3
"""Time `betterform config` against the C++ `jsonnet` CLI on jsonnet's own benchmark programs.

Usage: python3 bench/jsonnet_vs_cpp.py BENCHMARKS_DIR [--runs N] [--bin PATH] [--jsonnet PATH]

BENCHMARKS_DIR is the `benchmarks/` directory of a google/jsonnet checkout (not part of this
repository; this script fetches nothing). Its programs are copied into a temporary directory,
`bench.05.gen.jsonnet` is generated from `gen_big_object.jsonnet` as upstream does, and each
program is evaluated by both tools through the same wrapper, `{ result: import '<program>' }`
(betterform's config must be an object). Each tool's output is checked once (same JSON), then
timed with hyperfine when it is installed, or as the best of N runs otherwise.

Needs the release binary (`cargo build --release`) and the C++ CLI (`apt-get install jsonnet`).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMPL_DIR = REPO / "testdata" / "diamond"
# The deepest call stack betterform's --max-stack accepts.
MAX_STACK = 99999


def betterform_cmd(binary, wrapper, stack):
    # `env` makes it one plain command line, for hyperfine's --shell=none too.
    cmd = ["env", f"CONFIG_JSONNET_FILE={wrapper}", "INTERACTIVE=false", str(binary), "--impl-dir", str(IMPL_DIR)]
    return cmd + ["config"] + (["--max-stack", str(stack)] if stack else [])


def cpp_cmd(jsonnet, wrapper, stack):
    return [jsonnet] + (["--max-stack", str(stack)] if stack else []) + [str(wrapper)]


def run_once(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr.strip().splitlines()[:3]
    return json.loads(p.stdout), None


def time_hyperfine(cmds, cwd, runs):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        args = ["hyperfine", "--shell=none", "--warmup", "1", "--runs", str(runs), "--export-json", out.name]
        args += [" ".join(quote(a) for a in c) for c in cmds]
        p = subprocess.run(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.exit(p.stderr)
        results = json.load(open(out.name))["results"]
    return [(min(r["times"]), statistics.median(r["times"])) for r in results]


def time_loop(cmds, cwd, runs):
    times = [[] for _ in cmds]
    for _ in range(runs):  # alternate the tools so both see the same machine state
        for i, c in enumerate(cmds):
            start = time.perf_counter()
            subprocess.run(c, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[i].append(time.perf_counter() - start)
    return [(min(t), statistics.median(t)) for t in times]


def quote(arg):
    return "'" + arg.replace("'", "'\\''") + "'" if any(ch in arg for ch in " '\"{}$") else arg


def fmt(seconds):
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("benchmarks_dir", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bin", type=Path, default=REPO / "target" / "release" / "betterform")
    ap.add_argument("--jsonnet", default="jsonnet")
    ap.add_argument("--only", nargs="*", help="program file names to run (default: all)")
    opts = ap.parse_args()
    if not opts.bin.is_file():
        sys.exit(f"{opts.bin} missing: run `cargo build --release` first")
    if shutil.which(opts.jsonnet) is None:
        sys.exit(f"{opts.jsonnet} not found: apt-get install -y jsonnet")
    version = subprocess.run([opts.jsonnet, "--version"], capture_output=True, text=True).stdout.strip()
    timer = "hyperfine" if shutil.which("hyperfine") else f"best of {opts.runs} (no hyperfine)"

    with tempfile.TemporaryDirectory(prefix="jsonnet-bench-") as tmp:
        tmp = Path(tmp)
        progs = tmp / "programs"
        progs.mkdir()
        for p in sorted(opts.benchmarks_dir.glob("*.jsonnet")):
            shutil.copy(p, progs / p.name)
        gen = progs / "gen_big_object.jsonnet"
        if gen.exists():
            text = subprocess.run([opts.jsonnet, "-S", str(gen)], capture_output=True, text=True, check=True).stdout
            (progs / "bench.05.gen.jsonnet").write_text(text)
        print(f"C++: {version}; betterform: {opts.bin}; timing: {timer}; {opts.runs} runs")
        print()
        print("| program | C++ jsonnet | betterform | ratio (betterform / C++) | same output |")
        print("|---|---|---|---|---|")
        for prog in sorted(progs.glob("*.jsonnet")):
            if opts.only and prog.name not in opts.only:
                continue
            wrapper = tmp / f"wrap_{prog.name}"
            wrapper.write_text(f"{{ result: import '{prog}' }}\n")
            # Both CLIs default to 500 stack frames; a program deeper than that (bench.07) is
            # run by both with the most betterform accepts.
            name = prog.name
            for stack in (None, MAX_STACK):
                cpp = cpp_cmd(opts.jsonnet, wrapper, stack)
                bf = betterform_cmd(opts.bin, wrapper, stack)
                cpp_out, cpp_err = run_once(cpp, progs)
                bf_out, bf_err = run_once(bf, progs)
                if not (cpp_err or bf_err):
                    break
                name = f"{prog.name} (--max-stack {MAX_STACK})"
            if cpp_err and bf_err:
                print(f"| {name} | error | error | - | C++: {cpp_err[0]}; betterform: {bf_err[0]} |")
                continue
            if cpp_err or bf_err:  # time the one that works
                ok_cmd = bf if cpp_err else cpp
                (t,) = (time_hyperfine if shutil.which("hyperfine") else time_loop)([ok_cmd], progs, opts.runs)
                cells = ("error", f"{fmt(t[0])} / {fmt(t[1])}") if cpp_err else (f"{fmt(t[0])} / {fmt(t[1])}", "error")
                print(f"| {name} | {cells[0]} | {cells[1]} | - | {(cpp_err or bf_err)[0]} |")
                continue
            same = "yes" if cpp_out == bf_out else "NO"
            if shutil.which("hyperfine"):
                (cpp_t, bf_t) = time_hyperfine([cpp, bf], progs, opts.runs)
            else:
                (cpp_t, bf_t) = time_loop([cpp, bf], progs, opts.runs)
            ratio = bf_t[1] / cpp_t[1]
            print(
                f"| {name} | {fmt(cpp_t[0])} / {fmt(cpp_t[1])} | {fmt(bf_t[0])} / {fmt(bf_t[1])} "
                f"| {ratio:.3g}x | {same} |"
            )
        print()
        print("Times are best / median; the ratio uses the medians.")


if __name__ == "__main__":
    main()
