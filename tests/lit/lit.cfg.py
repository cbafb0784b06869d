# The lit suite: IR tests of the dialect and of each pass (named after the
# pass flag), front-end tests of firnc on .firn files, and the seed examples.
import os
import lit.formats

config.name = "firn"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".firn", ".test"]
config.excludes = ["Inputs", "lit.cfg.py", "lit.site.cfg.py", "lit.site.cfg.py.in"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.firn_obj_root, "tests", "lit")

config.environment["PATH"] = os.pathsep.join(
    [config.firn_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", os.environ["PATH"])])
config.substitutions.append(("%examples", os.path.join(config.firn_src_root, "examples")))
import sys
config.substitutions.append(
    ("%expect-exit", f"{sys.executable} {os.path.join(config.firn_src_root, 'tests', 'lit', 'expect-exit.py')}"))
