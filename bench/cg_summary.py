#!/usr/bin/env python3
"""Summarises a callgrind output file for bench/callgrind_wc.sh.

Prints, as `key value` lines: the total Ir of the process (every thread),
the inclusive Ir of each function named with --incl, and the number of
calls made to each function named with --calls (summed over all callers).
Reads callgrind's own format (name compression "(id) name" included);
standard library only.

  bench/cg_summary.py callgrind.out.123 --incl ops_run_task --calls sl_gen_lines
"""
import argparse
import re
import sys


def parse(path):
    names = {"fn": {}, "cfn": {}}
    total = 0
    incl = {}     # function -> inclusive Ir (self + callees)
    self_ir = {}  # function -> self Ir
    calls = {}    # callee -> calls
    fn = None
    pending_call = None  # (callee, count) whose cost line follows
    comp = re.compile(r"^\((\d+)\)(?: (.*))?$")

    def resolve(kind, text):
        m = comp.match(text)
        if not m:
            return text
        key = (kind if kind != "cfn" else "fn", m.group(1))
        if m.group(2) is not None:
            names[key[0]][key[1]] = m.group(2)
        return names[key[0]].get(key[1], text)

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("fn="):
                fn = resolve("fn", line[3:])
                continue
            if line.startswith("cfn="):
                callee = resolve("cfn", line[4:])
                pending_call = [callee, 0]
                continue
            if line.startswith("calls="):
                pending_call[1] = int(line[6:].split()[0])
                calls[pending_call[0]] = calls.get(pending_call[0], 0) + pending_call[1]
                pending_call.append("cost")
                continue
            if line.startswith("totals:") or line.startswith("summary:"):
                total = max(total, int(line.split()[1]))
                continue
            if line and (line[0].isdigit() or line[0] in "+-*"):
                parts = line.split()
                if len(parts) < 2:
                    continue
                ir = int(parts[1])
                if pending_call and len(pending_call) == 3:
                    # cost of a call from fn: inclusive cost of the callee
                    incl[fn] = incl.get(fn, 0) + ir
                    pending_call = None
                else:
                    self_ir[fn] = self_ir.get(fn, 0) + ir
                    incl[fn] = incl.get(fn, 0) + ir
    return total, incl, self_ir, calls


def matching(table, name):
    """Sums the entries for name and its callgrind clones (name'2, ...)."""
    return sum(v for k, v in table.items() if k == name or k.startswith(name + "'"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--incl", action="append", default=[])
    ap.add_argument("--calls", action="append", default=[])
    a = ap.parse_args()
    total, incl, _, calls = parse(a.file)
    print(f"total {total}")
    for name in a.incl:
        print(f"incl:{name} {matching(incl, name)}")
    for name in a.calls:
        print(f"calls:{name} {matching(calls, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
