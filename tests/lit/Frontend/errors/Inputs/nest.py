#!/usr/bin/env python3
"""nest.py KIND N: writes a .firn model whose forward returns (or whose init
value is) an expression nested N levels deep, to stdout. The offending
construct starts on line 4, column 12, so that a test can compute where the
level past the limit is: KIND is one of
  parens  ((((x))))          call    relu(relu(x))     minus  - - x
  plus    x + x + x          times   x * x * x         list   init [[[1.0]]]
  tuple   Conv2d(kernel_size=((3,),)) nested tuples in a layer argument
"""
import sys

kind, n = sys.argv[1], int(sys.argv[2])
head = "model M {\n  fc = Linear(2, 2)\n  forward(x: f32[N, 2]) {\n"
exprs = {
    "parens": "(" * n + "x" + ")" * n,
    "call": "relu(" * n + "x" + ")" * n,
    "minus": "- " * n + "x",
    "plus": "x" + " + x" * n,
    "times": "x" + " * x" * n,
}
if kind in exprs:
    print(head + "    return " + exprs[kind] + "\n  }\n}")
elif kind == "list":
    # `init fc.bias = ` puts the first bracket at column 18.
    print("model M {\n  fc = Linear(2, 2)\n  forward(x: f32[N, 2]) { return fc(x) }\n"
          "  init fc.bias = " + "[" * n + "1.0" + "]" * n + "\n}")
elif kind == "tuple":
    # `  c = Conv2d(1, 1, ` puts the first parenthesis at column 20.
    print("model M {\n  fc = Linear(2, 2)\n  forward(x: f32[N, 2]) { return fc(x) }\n"
          "  c = Conv2d(1, 1, " + "(" * n + "3" + ",)" * n + ")\n}")
else:
    sys.exit("unknown kind " + kind)
