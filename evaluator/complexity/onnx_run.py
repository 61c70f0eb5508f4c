"""Last resort for shapes that graph analysis cannot find (data-dependent or exotic
shape arithmetic): run the model once on a zero image with onnxruntime and read
the shapes of just those values. Used only when the caller allows running the
model (the sandbox child, which runs it anyway)."""
from __future__ import annotations

import numpy as np

from .errors import ComplexityError


def shapes_by_running(model, input_shape, names: list[str]) -> dict[str, tuple[int, ...]]:
    import onnx

    try:
        import onnxruntime as ort
    except ImportError:
        raise ComplexityError("some shapes need onnxruntime to be found; install onnxruntime") from None
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    inits = {t.name for t in probe.graph.initializer}
    image = next(i for i in probe.graph.input if i.name not in inits)
    known_outputs = {o.name for o in probe.graph.output}
    for name in names:
        if name not in known_outputs:
            probe.graph.output.append(onnx.ValueInfoProto(name=name))
    dtype = onnx.helper.tensor_dtype_to_np_dtype(image.type.tensor_type.elem_type or onnx.TensorProto.FLOAT)
    try:
        session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
        values = session.run(names, {image.name: np.zeros(input_shape, dtype=dtype)})
    except Exception as e:  # onnxruntime raises its own exception types
        raise ComplexityError(f"the shapes of {len(names)} values could not be inferred, and running the model "
                              f"to find them failed: {e}") from e
    return {name: tuple(int(d) for d in np.shape(v)) for name, v in zip(names, values)}
