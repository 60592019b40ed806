"""OCR for pixel redaction: rapidocr (models inside the wheel), in this process or in a child.

Two operations: ``recognize`` reads short crops that each hold one word or line (no detection: the
caller found the lines), ``detect`` finds and reads the text lines of an image (for what is not a
line of text on a plain background). Both are set up for screens: no angle classifier, one thread,
no arena, no upscaling of small crops.

``OcrProcess`` runs the same engine in a child process at a lower priority: the recorder's own
memory stays small (the models and their buffers take 150-400 MB while they work), the child gives
its memory back by exiting after ``idle_s`` without work, and it is started again when needed.
Pixels travel through a pipe, never through a file; the child exits when the recorder does, even
after ``kill -9``, because its input closes.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

Box = tuple[int, int, int, int]
_LEN = struct.Struct("<I")


class Ocr(Protocol):
    """What pixel redaction needs from OCR."""

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """The text and confidence of each RGB crop (one word or line each)."""

    def detect(self, rgb: np.ndarray) -> list[tuple[Box, str, float]]:
        """Text lines found in an RGB image: box, text and confidence."""

    def close(self) -> None:
        """Releases the engine."""


class LocalOcr:
    """rapidocr in this process: the recogniser alone (``Recognizer``) for ``recognize``, rapidocr's
    detection and recognition only when ``detect`` is first used."""

    def __init__(self) -> None:
        self._engine: Any = None
        self._rec: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._engine is None:
            from rapidocr_onnxruntime import RapidOCR

            self._engine = RapidOCR(use_cls=False, intra_op_num_threads=1, inter_op_num_threads=1,
                                    det_limit_type="max", det_limit_side_len=4096, min_height=10)
        return self._engine

    def _recognizer(self) -> Any:
        if self._rec is None:
            self._rec = Recognizer()
        return self._rec

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        if not crops:
            return []
        with self._lock:
            rec = self._recognizer()
            return [rec(np.ascontiguousarray(c)) for c in crops]

    def detect(self, rgb: np.ndarray) -> list[tuple[Box, str, float]]:
        with self._lock:
            result, _ = self._load()(np.ascontiguousarray(rgb))
        lines = []
        for quad, text, score in result or []:
            xs, ys = [p[0] for p in quad], [p[1] for p in quad]
            lines.append(((int(min(xs)), int(min(ys)), int(np.ceil(max(xs))), int(np.ceil(max(ys)))),
                          str(text), float(score)))
        return lines

    def close(self) -> None:
        self._engine = self._rec = None


def model_path(name: str) -> Path:
    """A model file inside the rapidocr wheel, found without importing the package (its
    ``__init__`` imports OpenCV, 25 MB that recognition does not need)."""
    import importlib.util

    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise OcrError("rapidocr-onnxruntime is not installed; run `make setup`")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / name


class Recognizer:
    """PP-OCRv4 text-line recognition (the model inside rapidocr's wheel) on onnxruntime alone.

    The same model, input scaling and CTC decoding as rapidocr's ``TextRecognizer``, one crop a run
    and no padding: a crop is scaled to 48 rows and costs about 0.1 ms per column (a batch of six
    cost twice as much per crop here, and 90 MB more).
    """

    HEIGHT = 48

    def __init__(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.enable_cpu_mem_arena = False
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_path("ch_PP-OCRv4_rec_infer.onnx")), options,
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        characters = self._session.get_modelmeta().custom_metadata_map["character"].splitlines()
        self._chars = ["", *characters, " "]  # 0 is CTC's blank

    def __call__(self, rgb: np.ndarray) -> tuple[str, float]:
        """The text in one RGB crop and its confidence (mean of its characters')."""
        from PIL import Image

        h, w = rgb.shape[:2]
        width = max(1, int(np.ceil(self.HEIGHT * w / max(1, h))))
        scaled = np.asarray(Image.fromarray(rgb).resize((width, self.HEIGHT), Image.BILINEAR), np.float32)
        x = ((scaled / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        preds = self._session.run(None, {self._input: x})[0][0]  # steps x classes
        index, prob = preds.argmax(axis=1), preds.max(axis=1)
        keep = index != 0
        keep[1:] &= index[1:] != index[:-1]
        text = "".join(self._chars[i] for i in index[keep] if i < len(self._chars))
        return text, float(prob[keep].mean()) if keep.any() else 0.0


class OcrError(RuntimeError):
    """The OCR child process failed twice in a row."""


class OcrProcess:
    """rapidocr in a child process at nice ``niceness``, started on demand, gone after ``idle_s``.

    Thread-safe: one request at a time.
    """

    def __init__(self, idle_s: float = 20.0, niceness: int = 10) -> None:
        self.idle_s = idle_s
        self.niceness = niceness
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self.starts = 0

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        if not crops:
            return []
        return self._call("recognize", [np.ascontiguousarray(c) for c in crops])

    def detect(self, rgb: np.ndarray) -> list[tuple[Box, str, float]]:
        return self._call("detect", np.ascontiguousarray(rgb))

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _call(self, op: str, payload: Any) -> Any:
        message = pickle.dumps((op, payload), protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            for attempt in (1, 2):  # the child may have just exited for being idle
                if self._proc is None or self._proc.poll() is not None:
                    self._start()
                assert self._proc is not None and self._proc.stdin and self._proc.stdout
                try:
                    self._proc.stdin.write(_LEN.pack(len(message)) + message)
                    self._proc.stdin.flush()
                    head = self._proc.stdout.read(_LEN.size)
                    if len(head) == _LEN.size:
                        ok, result = pickle.loads(self._proc.stdout.read(_LEN.unpack(head)[0]))
                        if ok:
                            return result
                        raise OcrError(f"OCR failed: {result}")
                except (BrokenPipeError, OSError):
                    pass
                self._stop()
                if attempt == 2:
                    raise OcrError("the OCR process exited twice in a row")
        raise AssertionError("unreachable")

    def _start(self) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "workscribe.redact.ocr", str(self.idle_s), str(self.niceness)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            close_fds=True)
        self.starts += 1

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()  # type: ignore[union-attr]
            except OSError:
                pass
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _read_exact(fd: int, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = os.read(fd, n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return bytes(out)


def serve(idle_s: float, niceness: int) -> None:
    """The child's loop: requests on stdin, answers on stdout; exits on EOF or after ``idle_s``."""
    try:
        os.nice(niceness)
    except OSError:
        pass
    engine = LocalOcr()
    fd_in, out = sys.stdin.fileno(), sys.stdout.buffer
    while True:
        ready, _, _ = select.select([fd_in], [], [], idle_s)
        if not ready:
            return  # idle: give the memory back; the parent starts a new child when needed
        try:
            size = _LEN.unpack(_read_exact(fd_in, _LEN.size))[0]
            op, payload = pickle.loads(_read_exact(fd_in, size))
        except EOFError:
            return
        try:
            answer = (True, engine.recognize(payload) if op == "recognize" else engine.detect(payload))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which stops
            answer = (False, f"{type(exc).__name__}: {exc}")
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_LEN.pack(len(data)) + data)
        out.flush()


if __name__ == "__main__":
    serve(float(sys.argv[1]), int(sys.argv[2]))
