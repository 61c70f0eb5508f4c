"""The ONNX protobuf classes (ModelProto, AttributeProto, TensorProto) without the rest of `onnx`.

`import onnx` costs ~0.7 s (most of it `ml_dtypes`'s extension, pulled in by
`onnx.helper`), and the sandboxed child needs only the message classes to run
`onnx_checks` before a session exists. They live in onnx's generated
`onnx_ml_pb2.py`, which depends on protobuf alone: it is loaded from the
installed onnx package's folder by path (found without importing the package)
and registered as `onnx.onnx_ml_pb2`, so a later `import onnx` in the same
process reuses it instead of registering the same protobuf file twice. Where
`onnx` is already imported, its own classes are used.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys

_NAME = "onnx.onnx_ml_pb2"


def proto():
    """The module holding ModelProto, AttributeProto and TensorProto."""
    if "onnx" in sys.modules:
        import onnx

        return onnx
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    spec = importlib.machinery.PathFinder.find_spec("onnx")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the onnx package is not installed (pip install onnx)")
    for folder in spec.submodule_search_locations:
        file_spec = importlib.util.spec_from_file_location(_NAME, f"{folder}/onnx_ml_pb2.py")
        if file_spec is not None and file_spec.loader is not None:
            try:
                module = importlib.util.module_from_spec(file_spec)
                sys.modules[_NAME] = module
                file_spec.loader.exec_module(module)
                return module
            except FileNotFoundError:
                sys.modules.pop(_NAME, None)
    import onnx  # an unusual layout: the whole package, as before

    return onnx
