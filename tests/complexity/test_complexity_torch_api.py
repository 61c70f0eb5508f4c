"""count_torch's arguments, return value and side effects."""
import pytest

torch = pytest.importorskip("torch")

from sonobench.evaluator.complexity import ComplexityError, count_torch  # noqa: E402

from .nets import GoldenNet  # noqa: E402


@pytest.mark.parametrize("shape", [(1, 1, 8), (2, 1, 8, 8), (1, 0, 8, 8), (1, 1, 8.0, 8), "1x1x8x8", None])
def test_input_shape_is_validated(shape):
    with pytest.raises(ComplexityError, match=r"Expected argument `input_shape` to be \(1, C, H, W\)"):
        count_torch(GoldenNet(), shape)


def test_model_type_is_validated():
    with pytest.raises(ComplexityError, match="Expected argument `model`"):
        count_torch(lambda x: x, (1, 1, 8, 8))


def test_model_failure_is_reported():
    with pytest.raises(ComplexityError, match=r"the model failed on a \(1, 3, 8, 8\) input"):
        count_torch(GoldenNet(), (1, 3, 8, 8))  # GoldenNet takes one channel


def test_training_flag_is_restored_and_weights_untouched():
    model = GoldenNet().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count_torch(model, (1, 1, 8, 8))
    assert model.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # eval mode: BN statistics unchanged


def test_parameters_not_buffers_and_shared_once():
    class Tied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
            self.b = self.a
            self.register_buffer("stat", torch.zeros(100))

        def forward(self, x):
            return self.b(self.a(x))

    out = count_torch(Tied(), (1, 1, 4, 4))
    assert out["params"] == 9 and out["gflops"] * 1e9 == pytest.approx(2 * 9 * 16)


def test_numpy_integers_are_accepted():
    np = pytest.importorskip("numpy")
    shape = tuple(np.int64(v) for v in (1, 1, 8, 8))
    assert count_torch(GoldenNet(), shape)["params"] == 379
