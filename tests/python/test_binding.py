"""Tests of the Python binding (tools/python/saccade), run by tests/cli/test_python.sh
with Debian's /usr/bin/python3 (numpy, cv2, torch, matplotlib as oracles).

Environment (set by ctest): SACCADE_BUILD_DIR (libsaccade.so and the CLI),
SACCADE_SOURCE_DIR, SACCADE_CLI, SACCADE_PYTHON."""
import gc
import gzip
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import cv2

SRC = os.environ.get("SACCADE_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("SACCADE_BUILD_DIR") or os.path.join(SRC, "build")
CLI = os.environ.get("SACCADE_CLI") or os.path.join(BUILD, "saccade")
PY = os.environ.get("SACCADE_PYTHON") or "/usr/bin/python3"
sys.path.insert(0, os.path.join(SRC, "tools", "python"))
import saccade  # noqa: E402

SAMPLES = os.path.join(SRC, "assets", "samples")
CAT = os.path.join(SAMPLES, "chelsea.jpg")  # 451 x 300
TMP = None


def setUpModule():
    global TMP
    TMP = tempfile.mkdtemp(prefix="pybind.", dir=BUILD if os.path.isdir(BUILD) else None)


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


def child_env():
    """Environment for oracle subprocesses: without the ASan preload of the wrapper."""
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)
    return e


def run(*args, **kw):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=child_env(),
                       **kw)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (args[:3], r.returncode, r.stdout[-2000:],
                                                        r.stderr[-2000:]))
    return r.stdout


def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def tmp(name):
    return os.path.join(TMP, name)


# ====================================================================== images
class TestImage(unittest.TestCase):
    def test_library_found_in_build_dir(self):
        self.assertTrue(os.path.samefile(os.path.dirname(saccade.LIB_PATH), BUILD),
                        saccade.LIB_PATH)

    def test_library_lookup(self):
        code = "import saccade; print(saccade.LIB_PATH)"
        env = dict(os.environ, PYTHONPATH=os.path.join(SRC, "tools", "python"))
        env.pop("SACCADE_LIB", None)
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.samefile(os.path.dirname(r.stdout.strip()), BUILD), r.stdout)
        env["SACCADE_LIB"] = tmp("no/libsaccade.so")
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ImportError: saccade: cannot load libsaccade.so", r.stderr)
        self.assertIn("no/libsaccade.so", r.stderr)

    def test_jpeg_matches_cv2_rgb_order(self):
        a = saccade.load_image(CAT)
        b = cv2.imread(CAT)[..., ::-1].astype(np.float32) / 255
        self.assertEqual(a.shape, (300, 451, 3))
        self.assertEqual(a.dtype, np.float32)
        d = np.abs(a - b)
        # stb_image and libjpeg differ by IDCT/upsampling rounding only
        self.assertLess(d.mean(), 0.25 / 255)
        self.assertLessEqual(d.max(), 4 / 255)
        # with BGR order the red channel would not match
        self.assertGreater(np.abs(a[..., 0] - b[..., 2]).mean(), 10 / 255)

    def test_png_exact_and_layouts(self):
        rng = np.random.default_rng(1)
        rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
        rgb[..., 0] = 255  # strongly red: catches a channel swap
        p = tmp("rand.png")
        self.assertTrue(cv2.imwrite(p, rgb[..., ::-1]))
        a = saccade.load_image(p)
        np.testing.assert_array_equal(a, rgb.astype(np.float32) * np.float32(1 / 255))
        chw = saccade.load_image(p, layout="chw")
        np.testing.assert_array_equal(chw, a.transpose(2, 0, 1))
        with open(p, "rb") as f:
            data = f.read()
        np.testing.assert_array_equal(saccade.load_image(data), a)
        np.testing.assert_array_equal(saccade.load_image(bytearray(data)), a)
        img, info = saccade.load_image(p, return_info=True)
        self.assertEqual(info["format"], "png")
        self.assertEqual((info["width"], info["height"], info["channels"]), (53, 37, 3))
        self.assertEqual(saccade.probe_image(p), info)

    def test_alpha_gray_and_16bit(self):
        rng = np.random.default_rng(2)
        bgra = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
        p = tmp("rgba.png")
        cv2.imwrite(p, bgra)
        rgba = bgra[..., [2, 1, 0, 3]].astype(np.float32) * np.float32(1 / 255)
        a = saccade.load_image(p, alpha=True)
        np.testing.assert_array_equal(a, rgba)
        over_black = saccade.load_image(p)
        np.testing.assert_allclose(over_black, rgba[..., :3] * rgba[..., 3:], atol=1e-6)
        over_white = saccade.load_image(p, background=1.0)
        np.testing.assert_allclose(over_white, rgba[..., :3] * rgba[..., 3:] +
                                   (1 - rgba[..., 3:]), atol=1e-6)
        g = rng.integers(0, 65536, (9, 11), dtype=np.uint16)
        cv2.imwrite(tmp("g16.png"), g)
        a = saccade.load_image(tmp("g16.png"))
        self.assertEqual(a.shape, (9, 11, 3))
        for c in range(3):
            np.testing.assert_allclose(a[..., c], g / 65535.0, atol=1e-7)

    def test_save_round_trip_and_quantisation(self):
        rng = np.random.default_rng(3)
        x = rng.random((16, 24, 3), dtype=np.float32) * 1.2 - 0.1  # out of range gets clamped
        saccade.save_image(tmp("s.png"), x)
        back = cv2.imread(tmp("s.png"))[..., ::-1]
        np.testing.assert_array_equal(back, saccade.to_uint8(x))
        saccade.save_image(tmp("s16.png"), x, bits=16)
        b16 = cv2.imread(tmp("s16.png"), cv2.IMREAD_UNCHANGED)
        self.assertEqual(b16.dtype, np.uint16)
        np.testing.assert_allclose(b16[..., ::-1] / 65535.0, np.clip(x, 0, 1), atol=0.51 / 65535)
        saccade.save_image(tmp("s.jpg"), x, quality=95)
        self.assertEqual(cv2.imread(tmp("s.jpg")).shape, (16, 24, 3))
        u8 = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)  # uint8 input is taken as pixels
        saccade.save_image(tmp("u8.png"), u8)
        np.testing.assert_array_equal(cv2.imread(tmp("u8.png"))[..., ::-1], u8)

    def test_resize(self):
        flat = np.full((40, 60, 3), 0.25, np.float32)
        for f in ("default", "box", "triangle", "mitchell"):
            r = saccade.resize_image(flat, 17, 23, filter=f)
            self.assertEqual(r.shape, (23, 17, 3))
            np.testing.assert_allclose(r, 0.25, atol=1e-5)
        # triangle shrink by 2 of a 2x2 checker = the box mean
        ck = np.kron(np.ones((10, 10)), [[0, 1], [1, 0]]).astype(np.float32)
        r = saccade.resize_image(ck, 10, 10, filter="box")
        self.assertEqual(r.shape, (10, 10))
        np.testing.assert_allclose(r, 0.5, atol=1e-6)


# ====================================================================== errors
class TestErrors(unittest.TestCase):
    def assertCError(self, fn, *names, code=None):
        with self.assertRaises(saccade.Error) as cm:
            fn()
        e = cm.exception
        for n in names:
            self.assertIn(n, str(e))
        self.assertTrue(e.status_name and e.status_name in str(e), str(e))
        if code:
            self.assertEqual(e.code, code, str(e))
        return e

    def test_missing_and_corrupt_files(self):
        self.assertCError(lambda: saccade.load_image(tmp("nope.png")), "nope.png",
                          code="SC_ERR_IO")
        with open(tmp("junk.png"), "wb") as f:
            f.write(bytes(np.random.default_rng(4).integers(0, 256, 300, dtype=np.uint8)))
        self.assertCError(lambda: saccade.load_image(tmp("junk.png")), "junk.png")
        ok = cv2.imencode(".png", np.zeros((64, 64, 3), np.uint8) + 90)[1].tobytes()
        with open(tmp("trunc.png"), "wb") as f:
            f.write(ok[: len(ok) // 2])
        self.assertCError(lambda: saccade.load_image(tmp("trunc.png")), "trunc.png")
        self.assertCError(lambda: saccade.load_image(ok[:40]))
        self.assertCError(lambda: saccade.load_image(CAT, max_pixels=1000), "chelsea.jpg",
                          code="SC_ERR_LIMIT")
        self.assertCError(lambda: saccade.probe_image(tmp("nope.jpg")), "nope.jpg")
        self.assertCError(lambda: saccade.save_image(tmp("nodir/x.png"), np.zeros((2, 2))),
                          "nodir")
        self.assertCError(lambda: saccade.save_image(tmp("x.tiff"), np.zeros((2, 2))), "x.tiff")
        for cls in (saccade.Classifier, saccade.Captioner, saccade.SafeTensors):
            self.assertCError(lambda: cls(tmp("none.safetensors")), "none.safetensors")
            self.assertCError(lambda: cls(tmp("junk.png")), "junk.png")

    def test_bad_arrays_raise_value_error(self):
        good = np.zeros((8, 8, 3), np.float32)
        bad = [np.zeros((8, 8, 3), np.int64), np.zeros((8, 8, 3), np.complex64),
               np.zeros((8, 8, 2), np.float32), np.zeros((1, 8, 8, 3), np.float32),
               np.zeros((0, 8, 3), np.float32), np.zeros(5, np.float32), "image.png", None,
               np.array([["a"]])]
        for b in bad:
            for fn in (lambda: saccade.saliency(b), lambda: saccade.overlay(b, good[..., 0]),
                       lambda: saccade.save_image(tmp("v.png"), b)):
                with self.assertRaises(ValueError, msg=repr(getattr(b, "shape", b))):
                    fn()
        with self.assertRaises(ValueError):
            saccade.saliency(good, method="itti")
        with self.assertRaises(ValueError):
            saccade.saliency(good, method="spectral", sigma=3)
        with self.assertRaises(ValueError):
            saccade.overlay(good, good[..., 0], alpha=1.5)
        with self.assertRaises(ValueError):
            saccade.overlay(good, good[..., 0], colormap="rainbow")
        with self.assertRaises(ValueError):
            saccade.overlay(good, good[..., 0], range=(1, 0))
        with self.assertRaises(ValueError):
            saccade.overlay(good, good)  # 3-D map
        with self.assertRaises(ValueError):
            saccade.load_image(CAT, layout="nhwc")
        with self.assertRaises(ValueError):
            saccade.load_image(12)
        with self.assertRaises(ValueError):
            saccade.load_image(b"")
        with self.assertRaises(ValueError):
            saccade.metrics.nss(np.zeros((4, 4)), np.zeros((4, 5)))
        with self.assertRaises(ValueError):
            saccade.metrics.cc(np.zeros((4, 4), np.complex128), np.zeros((4, 4)))
        with self.assertRaises(ValueError):
            saccade.save_image(tmp("q.png"), good, quality=90)
        with self.assertRaises(ValueError):
            saccade.resize_image(good, 0, 3)

    def test_integers_that_do_not_fit_c_are_refused(self):
        """ctypes keeps an int's low bits (2**32 + 8 would be 8): every int
        argument is range checked instead, never wrapped."""
        img = np.zeros((8, 8, 3), np.float32)
        for bad in (2 ** 32 + 8, 2 ** 31, -2 ** 31 - 1, 2 ** 64 + 8, 8.5, True):
            for fn in (lambda: saccade.resize_image(img, bad, 8),
                       lambda: saccade.resize_image(img, 8, bad),
                       lambda: saccade.resize_map(img[..., 0], bad, 8),
                       lambda: saccade.saliency(img, work_width=bad),
                       lambda: saccade.save_image(tmp("q.jpg"), img, quality=bad)):
                with self.assertRaises((ValueError, OverflowError), msg=repr(bad)):
                    fn()
        self.assertEqual(saccade.resize_image(img, 16, 8).shape, (8, 16, 3))
        n = saccade.get_num_threads()
        for bad in (2 ** 32 + 2, 2 ** 63, -2 ** 40):
            with self.assertRaises((ValueError, OverflowError)):
                saccade.set_num_threads(bad)
            self.assertEqual(saccade.get_num_threads(), n)
        for kw in ({"max_pixels": 2 ** 64}, {"max_file_bytes": 2 ** 64}, {"max_pixels": 0}):
            with self.assertRaises(ValueError, msg=kw):
                saccade.load_image(CAT, **kw)
        self.assertEqual(saccade.load_image(CAT, max_pixels=2 ** 64 - 1).shape, (300, 451, 3))
        with self.assertRaises(ValueError):
            saccade.metrics.auc_judd(np.ones((4, 4)), np.eye(4), seed=2 ** 64)

    def test_every_c_call_checks_its_integers_and_strings(self):
        """Below the public functions, each foreign call refuses an int its C
        parameter cannot hold and a char* with a NUL; struct fields refuse
        what they cannot hold."""
        import ctypes
        from saccade import _lib
        guarded = 0
        for name, (_, args) in _lib._PROTOS.items():
            f = getattr(_lib.lib, name)
            if any(t in _lib._INT_TYPES or t is ctypes.c_char_p for t in args):
                self.assertFalse(isinstance(f, ctypes._CFuncPtr), name)
                guarded += 1
        self.assertGreater(guarded, 40)
        with self.assertRaisesRegex(OverflowError, "sc_set_num_threads: argument 1"):
            _lib.lib.sc_set_num_threads(2 ** 32 + 2)
        with self.assertRaisesRegex(OverflowError, "sc_captioner_encode: argument 3"):
            _lib.lib.sc_captioner_encode(None, None, 2 ** 31, 1, None)
        with self.assertRaisesRegex(ValueError, "NUL"):
            _lib.lib.sc_colormap_from_name(b"jet\0x", ctypes.byref(ctypes.c_int()))
        p = _lib.lib.sc_captioner_beam_default_params()
        with self.assertRaises(OverflowError):
            p.beam_size = 2 ** 32 + 3
        self.assertEqual(p.beam_size, 3)
        q = _lib.ImageLoadParams()
        with self.assertRaises(OverflowError):
            q.max_pixels = -1
        q.max_pixels = 2 ** 64 - 1
        self.assertEqual(q.max_pixels, 2 ** 64 - 1)

    def test_nul_in_names_is_an_error(self):
        good = np.zeros((8, 8, 3), np.float32)
        with self.assertRaisesRegex(ValueError, "NUL"):
            saccade.overlay(good, good[..., 0], colormap="jet\0rainbow")
        with self.assertRaises(ValueError):
            saccade.saliency(good, method="spectral\0x")
        with self.assertRaisesRegex(ValueError, "NUL"):
            saccade.Captioner.create(["a", "cat\0dog"], grid=3, encoder_dim=8, attention_dim=6,
                                     embed_dim=5, decoder_dim=7)
        with self.assertRaisesRegex(ValueError, "seed"):
            saccade.Captioner.create(["a", "cat"], seed=2 ** 64, grid=3, encoder_dim=8,
                                     attention_dim=6, embed_dim=5, decoder_dim=7)

    def test_status_names(self):
        e = saccade.Error(3, "x.bin: bad")
        self.assertEqual((e.code, e.status_name), ("SC_ERR_FORMAT", "format error"))


# ====================================================================== saliency + metrics
class TestSaliency(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.img = saccade.load_image(CAT)
        cls.bgr = cv2.imread(CAT)

    def test_spectral_matches_cv2(self):
        s = saccade.saliency(self.img, method="spectral")
        ok, ref = cv2.saliency.StaticSaliencySpectralResidual_create().computeSaliency(self.bgr)
        self.assertTrue(ok)
        self.assertEqual(s.shape, ref.shape)
        self.assertEqual(s.dtype, np.float32)
        self.assertGreaterEqual(np.corrcoef(s.ravel(), ref.ravel())[0, 1], 0.99)
        self.assertTrue(0 <= s.min() and s.max() <= 1)

    def test_finegrained_matches_cv2(self):
        s = saccade.saliency(self.img, method="finegrained")
        ok, ref = cv2.saliency.StaticSaliencyFineGrained_create().computeSaliency(self.bgr)
        self.assertGreaterEqual(np.corrcoef(s.ravel(), ref.ravel().astype(float))[0, 1], 0.99)

    def test_every_method_equals_cli(self):
        for m in saccade.SALIENCY_METHODS:
            out = tmp("cli_%s.npy" % m)
            run(CLI, "saliency", CAT, "--method", m, "-o", tmp("cli_%s.png" % m), "--raw", out)
            ref = np.load(out)
            s = saccade.saliency(self.img, method=m)
            self.assertEqual(s.shape, ref.shape, m)
            np.testing.assert_allclose(s, ref, atol=1e-6, err_msg=m)

    def test_input_forms_agree(self):
        u8 = cv2.imread(CAT)[..., ::-1].copy()
        for m in ("spectral", "pqft"):
            a = saccade.saliency(u8, method=m)
            b = saccade.saliency(u8.astype(np.float64) / 255, method=m)
            c = saccade.saliency(np.ascontiguousarray(u8.transpose(2, 0, 1)), method=m,
                                 layout="chw")
            np.testing.assert_allclose(a, b, atol=1e-6)
            np.testing.assert_array_equal(a, c)
        g = saccade.saliency(self.img.mean(axis=2), method="pqft")  # gray (H, W)
        self.assertEqual(g.shape, (300, 451))
        small = saccade.saliency(self.img, method="spectral-hz", work_width=32, full_size=False)
        self.assertEqual(small.shape[1], 32)
        self.assertAlmostEqual(float(small.max()), 1.0, places=5)


class TestMetrics(unittest.TestCase):
    """Against a numpy implementation of the MIT benchmark code (as tests/cli/test_saliency.sh)."""

    @staticmethod
    def ref(s, f, g):
        s, f, g = (np.asarray(x, np.float64) for x in (s, f, g))
        mm = lambda x: (x - x.min()) / (x.max() - x.min())  # noqa: E731
        sv = mm(s).ravel()
        fix = f.ravel() > 0
        th = np.sort(sv[fix])[::-1]
        nf, n = len(th), sv.size
        tp = [0.0] + [(i + 1) / nf for i in range(nf)] + [1.0]
        fp = [0.0] + [((sv >= t).sum() - (i + 1)) / (n - nf) for i, t in enumerate(th)] + [1.0]
        z = (s - s.mean()) / s.std(ddof=1)
        a, b = mm(s), mm(g)
        a, b = a / a.sum(), b / b.sum()
        e = 2.2204e-16
        p, q = s / s.sum(), g / g.sum()
        return {"auc_judd": np.trapz(tp, fp), "nss": z[f > 0].mean(),
                "cc": np.corrcoef(s.ravel(), g.ravel())[0, 1], "sim": np.minimum(a, b).sum(),
                "kld": (q * np.log(e + q / (p + e))).sum()}

    def test_against_numpy(self):
        rng = np.random.default_rng(5)
        for trial in range(3):
            s = rng.random((30, 40)).astype(np.float32) ** 3
            g = cv2.GaussianBlur(rng.random((30, 40)).astype(np.float32), (9, 9), 3)
            f = (rng.random((30, 40)) > 0.97).astype(np.float32)
            want = self.ref(s, f, g)
            got = saccade.metrics.all_metrics(s, f, g)
            for k, v in want.items():
                self.assertAlmostEqual(got[k], v, delta=1e-5 * max(1, abs(v)), msg=k)
            self.assertAlmostEqual(saccade.metrics.nss(s.astype(np.float64), f > 0), want["nss"],
                                   delta=1e-5)

    def test_nan_without_fixations(self):
        s = np.random.default_rng(6).random((5, 5))
        self.assertTrue(np.isnan(saccade.metrics.nss(s, np.zeros((5, 5)))))
        self.assertTrue(np.isnan(saccade.metrics.auc_judd(s, np.zeros((5, 5)))))


# ====================================================================== overlay
class TestOverlay(unittest.TestCase):
    def test_equals_cli_overlay(self):
        rng = np.random.default_rng(7)
        m = rng.random((12, 18)).astype(np.float32)
        np.save(tmp("map.npy"), m)
        img = saccade.load_image(CAT)
        cases = [((), {}),
                 (("--colormap", "inferno", "--alpha", "0.7"), {"colormap": "inferno",
                                                                "alpha": 0.7}),
                 (("--colormap", "jet", "--range", "0.2,0.6", "--smooth", "3"),
                  {"colormap": "jet", "range": (0.2, 0.6), "smooth": 3})]
        for i, (args, kw) in enumerate(cases):
            out = tmp("ov%d.png" % i)
            run(CLI, "overlay", CAT, tmp("map.npy"), "-o", out, *args)
            want = cv2.imread(out)[..., ::-1]
            ov = saccade.overlay(img, m, **kw)
            self.assertEqual(ov.shape, (300, 451, 3))
            np.testing.assert_array_equal(saccade.to_uint8(ov), want, err_msg=str(kw))

    def test_colormaps_match_matplotlib(self):
        import matplotlib
        for name in saccade.COLORMAPS:
            t = saccade.colormap(name)
            self.assertEqual(t.shape, (256, 3))
            ref = matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3]
            np.testing.assert_allclose(t, ref, atol=1e-6, err_msg=name)

    def test_colorize_and_alpha_extremes(self):
        m = np.linspace(0, 3, 50, dtype=np.float32).reshape(5, 10)
        c = saccade.colorize(m, "magma")
        idx = np.floor((m - m.min()) / (m.max() - m.min()) * 255 + 0.5).astype(int)
        np.testing.assert_allclose(c, saccade.colormap("magma")[idx], atol=1e-6)
        img = np.random.default_rng(8).random((5, 10, 3)).astype(np.float32)
        np.testing.assert_allclose(saccade.overlay(img, m, alpha=0.0), img, atol=1e-6)
        np.testing.assert_allclose(saccade.overlay(img, m, alpha=1.0, colormap="magma"), c,
                                   atol=1e-6)
        up = saccade.resize_map(np.array([[0, 1]], np.float32), 4, 1)
        # PyTorch bilinear, align_corners=False: x = (i + 0.5) / 2 - 0.5
        np.testing.assert_allclose(up, [[0, 0.25, 0.75, 1]], atol=1e-6)


# ====================================================================== classifier
def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 0x803:
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, 28, 28)
    return np.frombuffer(data, np.uint8, offset=8)


class TestClassifier(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = tmp("clf.safetensors")
        run(CLI, "train", "classifier", "--channels", "8,16", "--batch", "32", "--lr", "0.01",
            "--max-steps", "20", "--threads", "2", "--seed", "5", "--quiet", "-o", cls.model)
        cls.eval = json.loads(run(CLI, "eval", "classifier", "--model", cls.model, "--threads",
                                  "2", "--json"))
        d = os.environ.get("SACCADE_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"
        cls.x = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"))
        cls.y = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))

    def test_predictions_consistent_with_cli_eval(self):
        saccade.set_num_threads(2)
        with saccade.Classifier(self.model) as clf:
            self.assertEqual(clf.input_shape, (1, 28, 28))
            self.assertEqual(len(clf.classes), 10)
            self.assertEqual(clf.classes[9], "Ankle boot")
            p = clf.predict(self.x)
            self.assertEqual(p.shape, (10000, 10))
            np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
            conf = np.zeros((10, 10), np.int64)
            np.add.at(conf, (self.y, p.argmax(axis=1)), 1)
            np.testing.assert_array_equal(conf, np.array(self.eval["confusion"]))
            nll = -np.log(p[np.arange(10000), self.y].astype(np.float64)).mean()
            self.assertAlmostEqual(nll, self.eval["loss"], places=4)
            # evaluate() on a part agrees with the predictions
            n = 1500
            ev = clf.evaluate(self.x[:n], self.y[:n])
            cn = np.zeros((10, 10), np.int64)
            np.add.at(cn, (self.y[:n], p[:n].argmax(axis=1)), 1)
            np.testing.assert_array_equal(ev["confusion"], cn)
            self.assertAlmostEqual(ev["accuracy"], np.trace(cn) / n, places=9)
            self.assertAlmostEqual(ev["loss"], -np.log(p[np.arange(n), self.y[:n]]
                                                       .astype(np.float64)).mean(), places=4)

    def test_input_forms(self):
        clf = saccade.Classifier(self.model)
        x = self.x[:7]
        p = clf.predict(x)
        np.testing.assert_array_equal(clf.predict(x[:, None]), p)
        np.testing.assert_array_equal(clf.predict(x[..., None]), p)
        np.testing.assert_allclose(clf.predict(x.astype(np.float32) / 255), p, atol=1e-5)
        # one image and a batch of 7 may take different BLAS kernels: equal up to rounding
        np.testing.assert_allclose(clf.predict(x[3]), p[3], rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(clf.classify(x), p.argmax(1))
        self.assertEqual(clf.predict(x[:0]).shape, (0, 10))
        for bad in (x[:, :27], x.astype(np.int32), np.zeros((2, 3, 28, 28), np.uint8)):
            with self.assertRaises(ValueError):
                clf.predict(bad)
        with self.assertRaises(ValueError):
            clf.evaluate(x, self.y[:6])
        with self.assertRaises(ValueError):
            clf.evaluate(x, np.full(7, 10))
        clf.close()
        clf.close()
        with self.assertRaises(saccade.Error):
            clf.predict(x)

    def test_safetensors_inspection(self):
        with saccade.SafeTensors(self.model) as st:
            self.assertIn("head.weight", st)
            self.assertEqual(st.info("head.weight").shape, (10, 16))
            self.assertEqual(st.config["num_classes"], 10)
            self.assertEqual(json.loads(st.metadata["saccade.classes"])[0], "T-shirt/top")
            # a plain-Python reading of the file as the oracle
            with open(self.model, "rb") as f:
                raw = f.read()
            n = struct.unpack("<Q", raw[:8])[0]
            hdr = json.loads(raw[8:8 + n])
            names = [k for k in hdr if k != "__metadata__"]
            self.assertEqual(sorted(st.keys()), sorted(names))
            for k in names:
                b, e = hdr[k]["data_offsets"]
                want = np.frombuffer(raw[8 + n + b: 8 + n + e], "<f4").reshape(hdr[k]["shape"])
                np.testing.assert_array_equal(st[k], want, err_msg=k)
        d = saccade.inspect_model(self.model)
        self.assertEqual(len(d["tensors"]), len(names))

    def test_no_growth_creating_200_models(self):
        x = self.x[:4]
        for _ in range(20):
            saccade.Classifier(self.model).predict(x)
        gc.collect()
        before = rss_kb()
        for i in range(200):
            if i % 2:
                with saccade.Classifier(self.model) as c:
                    c.predict(x)
            else:
                saccade.Classifier(self.model).predict(x)  # freed by __del__
        gc.collect()
        grown = rss_kb() - before
        # not freeing them grows RSS by ~90 MB (the models' inference buffers);
        # the margin covers the allocator and ASan's quarantine (4 MB in the wrapper)
        self.assertLess(grown, 16384, "RSS grew by %d kB" % grown)


# ====================================================================== captioner
class TestCaptioner(unittest.TestCase):
    """Beam search against the PyTorch reference of the tutorial (tools/ref/ref_sat.py)."""

    @classmethod
    def setUpClass(cls):
        cls.ref = tmp("sat")
        run(PY, os.path.join(SRC, "tools", "ref", "ref_sat.py"), cls.ref)
        cls.cap = saccade.Captioner(os.path.join(cls.ref, "model.safetensors"))

    @classmethod
    def tearDownClass(cls):
        cls.cap.close()

    def load(self, name):
        return np.load(os.path.join(self.ref, name + ".npy"))

    def test_beam_search_matches_pytorch(self):
        cap = self.cap
        self.assertEqual(cap.grid, 5)
        with open(os.path.join(self.ref, "WORDMAP.json")) as f:
            wm = json.load(f)
        self.assertEqual({w: cap.word_id(w) for w in wm}, wm)
        for name in ("astronaut", "coffee", "chelsea"):
            feats = self.load(name + "_features")
            for k in (1, 3, 5):
                p = "%s_k%d_" % (name, k)
                r = cap.caption(features=feats, beam=k)
                np.testing.assert_array_equal(r.tokens, self.load(p + "seq"), err_msg=p)
                self.assertAlmostEqual(r.score, float(self.load(p + "score")[0]), delta=1e-3)
                self.assertAlmostEqual(float(r.logprobs.sum()), r.score, delta=1e-3)
                T = len(r.tokens)
                self.assertEqual(r.attention.shape, (T, 5, 5))
                np.testing.assert_allclose(r.attention.reshape(T, 25), self.load(p + "alphas"),
                                           atol=1e-4, err_msg=p)
                self.assertTrue(r.finished)
                self.assertEqual(r.words[-1], "<end>")
                self.assertEqual(r.text, " ".join(r.words[:-1]))
                self.assertEqual(r.hypotheses[0].text, r.text)
                self.assertEqual(len(r.hypotheses), k)
                # (N, N, E) features give the same result
                r2 = cap.caption(features=feats.reshape(5, 5, -1), beam=k)
                np.testing.assert_array_equal(r2.tokens, r.tokens)

    def test_default_beam_is_three(self):
        # one default for the shipped captioner: library, CLI and Python
        from saccade.captioner import default_beam
        self.assertEqual(default_beam(), 3)
        feats = self.load("coffee_features")
        r = self.cap.caption(features=feats)
        np.testing.assert_array_equal(r.tokens, self.load("coffee_k3_seq"))
        self.assertEqual(len(r.hypotheses), 3)
        self.assertIn("default 3", saccade.Captioner.caption.__doc__)

    def test_caption_image_end_to_end(self):
        # C preprocessing (stb triangle filter) + resnet18 encoder vs the tutorial's
        # PIL resize + torchvision: features agree closely, captions exactly
        for name in ("astronaut", "coffee", "chelsea"):
            raw = self.load(name + "_raw")  # (3, H, W) in [0, 1]
            f = self.cap.encode(raw, layout="chw")
            fr = self.load(name + "_features")
            self.assertEqual(f.shape, fr.shape)
            self.assertGreater(np.corrcoef(f.ravel(), fr.ravel())[0, 1], 0.99999)
            self.assertLess(np.abs(f - fr).max(), 0.005 * np.abs(fr).max())
            for k in (1, 3):
                p = "%s_k%d_" % (name, k)
                img = raw.transpose(1, 2, 0) if k == 1 else raw
                r = self.cap.caption(img, beam=k, layout="hwc" if k == 1 else "chw")
                np.testing.assert_array_equal(r.tokens, self.load(p + "seq"), err_msg=p)
                self.assertAlmostEqual(r.score, float(self.load(p + "score")[0]), delta=0.05)
                rf = self.cap.caption(features=f, beam=k)
                np.testing.assert_array_equal(rf.tokens, r.tokens)
                np.testing.assert_allclose(rf.attention, r.attention, atol=1e-6)

    def test_teacher_forcing_matches_pytorch(self):
        feats = self.load("coffee_features")
        seq = self.load("coffee_k3_seq")
        toks = np.concatenate([[self.cap.special["start"]], seq[:-1]])
        logits, att = self.cap.teacher_force(feats, toks)
        np.testing.assert_allclose(logits, self.load("coffee_k3_logits"), atol=2e-4)
        np.testing.assert_allclose(att.reshape(len(toks), -1), self.load("coffee_k3_tf_alphas"),
                                   atol=1e-5)

    def test_image_needs_encoder_and_bad_inputs(self):
        cap = self.cap
        with self.assertRaises(ValueError):
            cap.caption()
        with self.assertRaises(ValueError):
            cap.caption(features=np.zeros((24, 512), np.float32))
        with self.assertRaises(ValueError):
            cap.caption(features=np.zeros((25, 512), np.complex64))
        with self.assertRaises(ValueError):
            cap.caption(features=np.zeros((25, 512)), beam=0)
        with self.assertRaises(ValueError):
            cap.teacher_force(np.zeros((25, 512)), [1, 99])

    def test_created_model_round_trip(self):
        words = ["a", "cat", "dog", "on", "mat"]
        m = saccade.Captioner.create(words, seed=3, grid=3, encoder_dim=8, attention_dim=6,
                                     embed_dim=5, decoder_dim=7)
        self.assertEqual(m.vocab[:2], ["<pad>", "a"])
        self.assertEqual(len(m.vocab), 9)
        f = np.random.default_rng(9).standard_normal((9, 8)).astype(np.float32)
        r = m.caption(features=f, beam=4, max_len=6)
        self.assertLessEqual(len(r.tokens), 6)
        self.assertEqual(r.attention.shape, (len(r.tokens), 3, 3))
        np.testing.assert_allclose(r.attention.sum(axis=(1, 2)), 1, atol=1e-5)
        m.save(tmp("tiny_cap.safetensors"))
        with saccade.Captioner(tmp("tiny_cap.safetensors")) as m2:
            r2 = m2.caption(features=f, beam=4, max_len=6)
            np.testing.assert_array_equal(r2.tokens, r.tokens)
            np.testing.assert_allclose(r2.logprobs, r.logprobs, atol=1e-6)
            # a features-only model cannot caption an image: a C error, not a crash
            with self.assertRaises(saccade.Error):
                m2.caption(np.zeros((32, 32, 3), np.float32))
        # Captioner() opens the shipped default model, found like every asset
        os.makedirs(tmp("assets/models"), exist_ok=True)
        shutil.copy(tmp("tiny_cap.safetensors"), tmp("assets/models/scenes-captioner.safetensors"))
        old = os.environ.get("SACCADE_ASSETS")
        os.environ["SACCADE_ASSETS"] = tmp("assets")
        try:
            with saccade.Captioner() as m3:
                self.assertTrue(m3.path.endswith("models/scenes-captioner.safetensors"), m3.path)
                np.testing.assert_array_equal(m3.caption(features=f, beam=4, max_len=6).tokens,
                                              r.tokens)
        finally:
            if old is None:
                del os.environ["SACCADE_ASSETS"]
            else:
                os.environ["SACCADE_ASSETS"] = old
        r3 = m.caption(features=f, beam=1, max_len=4, min_len=4)
        self.assertNotIn("<end>", r3.words)
        self.assertFalse(r3.finished)
        with self.assertRaises(saccade.Error):
            saccade.Captioner.create(words, grid=0)
        m.close()

    def test_hard_attention_modes(self):
        words = ["a", "cat", "dog", "on", "mat"]
        m = saccade.Captioner.create(words, seed=5, grid=2, encoder_dim=8, attention_dim=6,
                                     embed_dim=5, decoder_dim=7, hard_attention=True)
        self.assertTrue(m.config["hard_attention"])
        f = np.random.default_rng(4).standard_normal((4, 8)).astype(np.float32)
        r = m.caption(features=f, beam=2, max_len=6)  # argmax: the default of hard models
        self.assertEqual(r.cells.shape, (len(r.tokens),))
        for c, a in zip(r.cells, r.attention):
            self.assertEqual(a.ravel()[c], 1.0)
            self.assertEqual(a.sum(), 1.0)
        self.assertIsNone(m.caption(features=f, attention_mode="expected").cells)
        s1 = m.caption(features=f, attention_mode="sample", seed=7)
        s2 = m.caption(features=f, attention_mode="sample", seed=7)
        np.testing.assert_array_equal(s1.cells, s2.cells)
        np.testing.assert_array_equal(s1.tokens, s2.tokens)
        with self.assertRaises(ValueError):
            m.caption(features=f, attention_mode="hard")
        with self.assertRaises(ValueError):
            m.caption(features=f, attention_mode="sample", seed=-1)
        m.close()

    def test_no_growth_creating_200_captioners(self):
        f = np.ones((4, 96), np.float32)
        words = ["w%d" % i for i in range(100)]

        def one(i):
            m = saccade.Captioner.create(words, seed=i, grid=2, encoder_dim=96, attention_dim=96,
                                         embed_dim=96, decoder_dim=96)
            m.caption(features=f, max_len=5, beam=3)
            if i % 2:
                m.close()  # else __del__ frees it

        for i in range(20):
            one(i)
        gc.collect()
        before = rss_kb()
        for i in range(200):
            one(i)
        gc.collect()
        grown = rss_kb() - before
        # a leaked model is ~0.5 MB: not freeing them grows RSS by ~100 MB
        self.assertLess(grown, 16384, "RSS grew by %d kB" % grown)


class TestBlip(unittest.TestCase):
    """saccade.Blip on a random-weight Hugging Face folder against the PyTorch
    twin (tools/ref/ref_blip.py): same text, ids and per-step cross-attention."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tmp("blip_tiny")
        run(PY, os.path.join(SRC, "tools", "ref", "make_blip_folder.py"), cls.dir, "--size",
            "tiny", "--seed", "5")
        cls.png = tmp("blip_cat.png")  # PNG: both sides decode the same pixels
        cv2.imwrite(cls.png, cv2.imread(CAT))
        cls.blip = saccade.Blip(cls.dir)

    def twin(self, name, *opts):
        out = tmp("blip_ref_" + name)
        run(PY, os.path.join(SRC, "tools", "ref", "ref_blip.py"), "run", self.dir, self.png,
            "--out", out, "--quiet", *opts)
        with open(os.path.join(out, "result.json")) as f:
            return out, json.load(f)

    def test_caption_matches_twin(self):
        img = saccade.load_image(self.png)
        out, ref = self.twin("b3p", "--beam", "3", "--prompt", "a picture of", "--max-len", "9")
        r = self.blip.caption(img, beam=3, prompt="a picture of", max_len=9)
        self.assertEqual(r.text, ref["text"])
        P = len(ref["prompt_ids"])
        self.assertEqual(r.tokens.tolist(), ref["ids"][P:P + len(r.tokens)])
        self.assertEqual(r.prompt_ids.tolist(), ref["prompt_ids"][1:])
        # log-probabilities per token ([SEP]'s last when it ended) and the
        # beam's score made from them
        self.assertEqual(r.logprobs.shape, r.tokens.shape)
        self.assertEqual(r.logprobs.dtype, np.float32)
        lp = list(r.logprobs) + ([r.end_logprob] if r.finished else [])
        self.assertEqual(r.end_logprob is None, not r.finished)
        np.testing.assert_allclose(lp, ref["token_logprobs"], rtol=1e-4, atol=1e-5)
        self.assertAlmostEqual(r.score, ref["score"], delta=1e-4 * (1 + abs(ref["score"])))
        self.assertEqual(self.blip.caption(img, beam=3, prompt="a picture of", max_len=9,
                                           strip_prompt=True).text, ref["text_new"])

    def test_attention_array(self):
        img = saccade.load_image(self.png)
        out, ref = self.twin("greedy")
        r = self.blip.caption(img, layer=0, heads=[0, 2], gradcam=True)
        lp = list(r.logprobs) + ([r.end_logprob] if r.finished else [])
        np.testing.assert_allclose(lp, np.load(os.path.join(out, "token_logprobs.npy")),
                                   rtol=1e-4, atol=1e-5)
        self.assertAlmostEqual(r.score, ref["logprob_sum"], delta=1e-4 * (1 + abs(r.score)))
        T, G = len(r.tokens), self.blip.grid
        self.assertEqual(r.attention.shape, (T, G, G))
        self.assertEqual(r.attention.dtype, np.float32)
        self.assertEqual(len(r.pieces), T)
        # whole words: the pieces joined ("##" continuations to the piece
        # before), maps the mean of their pieces', log-probabilities the sum
        self.assertEqual(int(r.word_pieces.sum()), T)
        self.assertEqual(len(r.words), len(r.word_pieces))
        self.assertEqual(r.word_attention.shape, (len(r.words), G, G))
        t = 0
        for w, k in zip(r.words, r.word_pieces):
            self.assertTrue(all(p.startswith("##") for p in r.pieces[t + 1:t + k]))
            nxt = r.pieces[t + k] if t + k < T else ""
            self.assertFalse(nxt.startswith("##") and len(nxt) > 2)
            head = r.pieces[t]  # a caption may start with a continuation: "##" dropped
            head = head[2:] if t == 0 and head.startswith("##") and len(head) > 2 else head
            self.assertEqual(w, head + "".join(p[2:] for p in r.pieces[t + 1:t + k]))
            t += k
        starts = np.concatenate([[0], np.cumsum(r.word_pieces)])
        for w in range(len(r.words)):
            a, b = starts[w], starts[w + 1]
            np.testing.assert_allclose(r.word_attention[w], r.attention[a:b].mean(0), rtol=1e-5,
                                       atol=1e-7)
            self.assertAlmostEqual(float(r.word_logprobs[w]), float(r.logprobs[a:b].sum()),
                                   delta=1e-5)
        ca = np.load(os.path.join(out, "step_cross_attn.npy"))  # (steps, layers, heads, 1+G*G)
        want = ca[:T, 0][:, [0, 2], 1:].mean(1).reshape(T, G, G)
        np.testing.assert_allclose(r.attention, want, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(r.class_attention, ca[:T, 0][:, [0, 2], 0].mean(1),
                                   rtol=1e-4, atol=1e-6)
        self.assertEqual(r.gradcam.shape, (T, G, G))
        self.assertGreaterEqual(float(r.gradcam.min()), 0.0)

    def test_errors(self):
        with self.assertRaises(saccade.Error) as e:
            saccade.Blip(tmp("no_such_blip"))
        self.assertIn("no_such_blip", e.exception.message)
        with self.assertRaises(ValueError):
            self.blip.caption(np.zeros((8, 8, 3), np.float32), beam=0)
        with self.assertRaises(saccade.Error):
            self.blip.caption(np.zeros((8, 8, 3), np.float32), layer=9)

    def test_bundled_model_warning(self):
        w = saccade.bundled_model_warning
        msg = w("assets/models/scenes-captioner.safetensors", 451, 300)
        self.assertIn("synthetic Fashion scenes", msg)
        self.assertIsNone(w("assets/models/scenes-captioner.safetensors", 96, 96))
        self.assertIsNone(w("fashion-stn.safetensors", 60, 60))
        self.assertIsNotNone(w("fashion-stn.safetensors", 96, 96))
        self.assertIsNone(w(self.dir, 451, 300))
        import warnings
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            saccade.Captioner().caption(saccade.load_image(CAT), beam=1, max_len=5)
        self.assertTrue(any("Fashion scenes" in str(x.message) for x in got), got)


def coco_bleu(cands, refs):
    """Corpus BLEU-1..4 as pycocoevalcap's bleu_scorer.py computes it."""
    from collections import Counter
    correct, guess, testlen, reflen = [0] * 4, [0] * 4, 0, 0
    for c, rs in zip(cands, refs):
        c, rs = c.split(), [r.split() for r in rs]
        testlen += len(c)
        reflen += min((abs(len(r) - len(c)), len(r)) for r in rs)[1]
        for k in range(1, 5):
            cc = Counter(tuple(c[i:i + k]) for i in range(len(c) - k + 1))
            mx = Counter()
            for r in rs:
                for g, v in Counter(tuple(r[i:i + k]) for i in range(len(r) - k + 1)).items():
                    mx[g] = max(mx[g], v)
            correct[k - 1] += sum(min(v, mx[g]) for g, v in cc.items())
            guess[k - 1] += max(0, len(c) - k + 1)
    ratio = (testlen + 1e-15) / (reflen + 1e-9)
    bp = math.exp(1 - 1 / ratio) if ratio < 1 else 1.0
    out, prod = [], 1.0
    for k in range(4):
        prod *= (correct[k] + 1e-15) / (guess[k] + 1e-9)
        out.append(prod ** (1.0 / (k + 1)) * bp)
    return out


class TestVitGpt2(unittest.TestCase):
    """saccade.VitGpt2 on a random-weight Hugging Face folder against the
    PyTorch twin (tools/ref/ref_vit_gpt2.py): same text, ids,
    log-probabilities and per-step cross-attention."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tmp("vitgpt2_tiny")
        # an eos bias and min_length 4: greedy captions end at eos after a few tokens
        run(PY, os.path.join(SRC, "tools", "ref", "make_vit_gpt2_folder.py"), cls.dir, "--seed",
            "3", "--eos-bias", "6.5", "--decoder-gen", '{"min_length": 4}')
        cls.png = tmp("vitgpt2_cat.png")  # PNG: both sides decode the same pixels
        cv2.imwrite(cls.png, cv2.imread(CAT))
        cls.model = saccade.VitGpt2(cls.dir)

    def twin(self, name, *opts):
        out = tmp("vitgpt2_ref_" + name)
        run(PY, os.path.join(SRC, "tools", "ref", "ref_vit_gpt2.py"), "run", self.dir, self.png,
            "--out", out, "--quiet", *opts)
        with open(os.path.join(out, "result.json")) as f:
            return out, json.load(f)

    def check(self, r, out, ref, layer, heads):
        ids = ref["ids"]  # start token first, the stop id last when finished
        T, G = len(r.tokens), self.model.grid
        self.assertEqual(r.text, ref["text"])
        self.assertEqual(r.finished, ref["finished"])
        self.assertEqual(r.tokens.tolist(), ids[1:1 + T])
        self.assertEqual(1 + T + int(r.finished), len(ids))
        # log-probabilities of every token (and of the stop id) under the model
        z = np.load(os.path.join(out, "step_logits.npy")).astype(np.float64)
        z = z - z.max(1, keepdims=True)
        lsm = z - np.log(np.exp(z).sum(1, keepdims=True))
        want = [lsm[t, ids[t + 1]] for t in range(len(ids) - 1)]
        lp = list(r.logprobs) + ([r.end_logprob] if r.finished else [])
        self.assertEqual(r.logprobs.dtype, np.float32)
        np.testing.assert_allclose(lp, want, rtol=1e-4, atol=1e-5)
        # per-token maps: the chosen layer's heads, class token left out
        self.assertEqual(r.attention.shape, (T, G, G))
        ca = np.load(os.path.join(out, "step_cross_attn.npy"))  # (steps, layers, heads, 1+G*G)
        hs = heads or list(range(ca.shape[2]))
        np.testing.assert_allclose(r.attention, ca[:T, layer][:, hs, 1:].mean(1).reshape(T, G, G),
                                   rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(r.class_attention, ca[:T, layer][:, hs, 0].mean(1), rtol=1e-4,
                                   atol=1e-6)
        # words: GPT-2 pieces joined at tokens without a leading space
        self.assertEqual(int(r.word_pieces.sum()), T)
        self.assertEqual(r.word_attention.shape, (len(r.words), G, G))
        starts = np.concatenate([[0], np.cumsum(r.word_pieces)])
        for w in range(len(r.words)):
            a, b = starts[w], starts[w + 1]
            np.testing.assert_allclose(r.word_attention[w], r.attention[a:b].mean(0), rtol=1e-5,
                                       atol=1e-7)
            self.assertAlmostEqual(float(r.word_logprobs[w]), float(r.logprobs[a:b].sum()),
                                   delta=1e-5)

    def test_greedy_matches_twin(self):
        img = saccade.load_image(self.png)
        out, ref = self.twin("greedy", "--gradients")
        r = self.model.caption(img, gradcam=True)
        self.assertTrue(r.finished)  # the eos bias ends it
        self.assertGreaterEqual(len(r.tokens), 3)
        self.check(r, out, ref, 1, None)  # default layer 2 * 2 // 3
        # gradient-weighted maps: attention * max(d log p / d attention, 0), mean over heads
        T, G = len(r.tokens), self.model.grid
        ca = np.load(os.path.join(out, "step_cross_attn.npy"))[:T, 1, :, 1:]
        gr = np.load(os.path.join(out, "step_cross_grad.npy"))[:T, 1, :, 1:]
        np.testing.assert_allclose(r.gradcam, (ca * np.maximum(gr, 0)).mean(1).reshape(T, G, G),
                                   rtol=1e-4, atol=1e-7)
        self.assertIsNone(self.model.caption(img).gradcam)
        self.assertAlmostEqual(r.score, float(np.sum(list(r.logprobs) + [r.end_logprob])),
                               delta=1e-4)

    def test_beam_matches_twin(self):
        img = saccade.load_image(self.png)
        out, ref = self.twin("b3", "--beam", "3", "--max-len", "9")
        r = self.model.caption(img, beam=3, max_len=8, layer=0, heads=[1, 3])
        self.assertGreaterEqual(len(r.tokens), 3)
        self.check(r, out, ref, 0, [1, 3])
        self.assertAlmostEqual(r.score, ref["score"], delta=1e-4 * (1 + abs(ref["score"])))

    def test_errors(self):
        with self.assertRaises(saccade.Error) as e:
            saccade.VitGpt2(tmp("no_such_vitgpt2"))
        self.assertIn("no_such_vitgpt2", e.exception.message)
        with self.assertRaises(ValueError):
            self.model.caption(np.zeros((8, 8, 3), np.float32), beam=0)
        with self.assertRaises(saccade.Error):
            self.model.caption(np.zeros((8, 8, 3), np.float32), layer=5)


class TestBlipTasks(unittest.TestCase):
    """saccade.BlipVqa and saccade.BlipItm on random-weight Hugging Face folders
    against the PyTorch twin (tools/ref/ref_blip_vqa.py): same answers, answer
    attention, match probability, cosine and Grad-CAM of the phrase."""

    @classmethod
    def setUpClass(cls):
        mk = os.path.join(SRC, "tools", "ref", "make_blip_task_folder.py")
        cls.vdir, cls.idir = tmp("blipvqa_tiny"), tmp("blipitm_tiny")
        run(PY, mk, cls.vdir, "--task", "vqa", "--seed", "31", "--sep-bias", "4")
        run(PY, mk, cls.idir, "--task", "itm", "--seed", "32")
        cls.png = tmp("blipvqa_cat.png")
        cv2.imwrite(cls.png, cv2.imread(CAT))

    def test_vqa_matches_twin(self):
        out = tmp("blipvqa_ref")
        q = "what is the cat doing?"
        run(PY, os.path.join(SRC, "tools", "ref", "ref_blip_vqa.py"), "vqa", self.vdir, self.png,
            "--out", out, "--quiet", "--question", q)
        with open(os.path.join(out, "q0", "result.json")) as f:
            ref = json.load(f)
        vqa = saccade.BlipVqa(self.vdir)
        vqa.set_image(saccade.load_image(self.png))
        a = vqa.ask(q, layer=1)
        self.assertEqual(a.text, ref["answer"])
        self.assertEqual(a.tokens.tolist(), ref["ids"][1:1 + len(a.tokens)])
        self.assertEqual(a.question_words[0], "[CLS]")
        self.assertAlmostEqual(a.score, math.exp(ref["logprob"]), delta=1e-4)
        T, Q, G = len(a.tokens), len(a.question_tokens), vqa.grid
        sx = np.load(os.path.join(out, "q0", "step_cross_attn.npy"))  # (T', L, H, Q)
        np.testing.assert_allclose(a.answer_attention, sx[:T, 1].mean(1), rtol=1e-4, atol=1e-6)
        self.assertEqual(a.question_attention.shape, (Q, G, G))
        self.assertEqual(a.answer_maps.shape, (T, G, G))
        with self.assertRaises(saccade.Error) as e:
            vqa.ask("")
        self.assertIn("empty", e.exception.message)

    def test_itm_matches_twin(self):
        out = tmp("blipitm_ref")
        run(PY, os.path.join(SRC, "tools", "ref", "ref_blip_vqa.py"), "itm", self.idir, self.png,
            "--out", out, "--quiet", "--text", "a red cat", "--layer", "0")
        with open(os.path.join(out, "t0", "scores.json")) as f:
            ref = json.load(f)
        itm = saccade.BlipItm(self.idir)
        itm.set_image(saccade.load_image(self.png))
        m = itm.match("a red cat", layer=0)
        self.assertAlmostEqual(m.probability, ref["probability"], delta=1e-5)
        self.assertAlmostEqual(m.cosine, ref["cosine"], delta=1e-5)
        np.testing.assert_allclose(m.phrase, np.load(os.path.join(out, "t0", "phrase.npy")),
                                   rtol=1e-4, atol=1e-7)
        self.assertEqual(m.words, ["[CLS]", "a", "red", "cat", "[SEP]"])
        self.assertIsNone(itm.match("a red cat", gradcam=False).phrase)
        with self.assertRaises(saccade.Error):
            saccade.BlipItm(self.vdir)  # a VQA folder has no matching heads



class TestCaptionerEval(unittest.TestCase):
    """Captioner.evaluate (sc_captioner_evaluate) on the sample scenes folder,
    against captions from Captioner.caption and BLEU computed here as the COCO
    toolkit does."""

    def test_evaluate_sample_folder(self):
        folder = os.path.join(SAMPLES, "scenes")
        with open(os.path.join(folder, "annotations.jsonl")) as f:
            ann = [json.loads(l) for l in f if l.strip()]
        with saccade.Captioner() as cap:
            r = cap.evaluate(n=1000, beam=3, data=folder)
            r1 = cap.evaluate(n=4, beam=1, data=folder)
            cands = [cap.caption(saccade.load_image(os.path.join(folder, a["image"])), beam=3,
                                 max_len=30).text for a in ann]
        refs = [a["captions"] for a in ann]
        self.assertEqual(r["n"], len(ann))          # n is capped at the folder's scenes
        self.assertEqual(r1["n"], 4)
        self.assertEqual(r["counts"]["scenes"], len(ann))
        exact = sum(c in rs for c, rs in zip(cands, refs)) / len(ann)
        self.assertAlmostEqual(r["exact_match"], exact, places=12)
        want = coco_bleu(cands, refs)
        for k in range(4):
            self.assertAlmostEqual(r["bleu%d" % (k + 1)], want[k], places=9)
        slots = sum(len(a["items"]) for a in ann)
        self.assertEqual(r["counts"]["slots"], slots)
        self.assertAlmostEqual(r["colour_accuracy"], r["counts"]["colour_ok"] / slots, places=12)
        for k in ("count_accuracy", "class_accuracy", "relation_accuracy", "pointing_game",
                  "pointing_game_colour_step"):
            self.assertTrue(0 <= r[k] <= 1, (k, r[k]))
        self.assertGreater(r["pointing_nouns"], 0)

    def test_evaluate_errors(self):
        with saccade.Captioner() as cap:
            with self.assertRaises(saccade.Error) as e:
                cap.evaluate(data=tmp("no_such_folder"))
            self.assertIn("no_such_folder", e.exception.message)
            for bad in ({"beam": 0}, {"n": 0}, {"max_len": 1.5}, {"seed": -1}):
                with self.assertRaises(ValueError):
                    cap.evaluate(**bad)
        with saccade.Captioner.create(["a", "red", "bag"], grid=2, encoder_dim=4,
                                      attention_dim=4, embed_dim=4, decoder_dim=4) as feat:
            with self.assertRaises(saccade.Error) as e:
                feat.evaluate(n=2, data=os.path.join(SAMPLES, "scenes"))
            self.assertEqual(e.exception.code, "SC_ERR_UNSUPPORTED")


class TestVQA(unittest.TestCase):
    """The binding against the CLI (same model, same image): answers,
    probabilities, unknown words; hop maps are distributions over the grid."""
    IMG = os.path.join(SAMPLES, "scenes", "images", "test_000000.png")

    @classmethod
    def setUpClass(cls):
        cls.vqa = saccade.VQA()

    def test_matches_cli(self):
        img = saccade.load_image(self.IMG)
        self.vqa.set_image(img)
        for q in ("what colour is the coat?", "how many objects are there?",
                  "is there a red zorble?"):
            a = self.vqa.ask(q, top_k=3)
            ref = json.loads(run(CLI, "vqa", self.IMG, q, "--json", "--top-k", "3"))
            self.assertEqual([t for t, _ in a.top], [t["answer"] for t in ref["top_k"]], q)
            for (_, p), t in zip(a.top, ref["top_k"]):
                self.assertAlmostEqual(p, t["probability"], delta=2e-6)
            self.assertEqual(a.unknown, ref["unknown_words"])
            self.assertEqual(a.tokens, ref["tokens"])
            self.assertIn(a.answer, self.vqa.answers)
        a = self.vqa.ask("is there a red zorble?")
        self.assertEqual(a.unknown, ["zorble"])
        if self.vqa.arch == "san":
            hops = self.vqa.config["hops"]
            self.assertEqual(a.attention.shape, (hops, self.vqa.grid, self.vqa.grid))
            np.testing.assert_allclose(a.attention.sum(axis=(1, 2)), np.ones(hops), atol=1e-4)
            self.assertTrue((a.attention >= 0).all())
        # uint8 input is the same image
        b = self.vqa.ask_image((img * 255 + 0.5).astype(np.uint8), "what colour is the coat?")
        self.assertEqual(b.answer, self.vqa.ask_image(img, "what colour is the coat?").answer)

    def test_hop_figure_matches_cli(self):
        """VQA.hop_figure draws the figure of `saccade vqa --attention` (its PNG
        is the same picture to 8-bit rounding); no maps, no figure."""
        self.assertEqual(self.vqa.arch, "san")  # the shipped model has hops
        img = saccade.load_image(self.IMG)
        q = "what colour is the coat?"
        a = self.vqa.ask_image(img, q)
        fig = self.vqa.hop_figure(img, a)
        hops = self.vqa.config["hops"]
        self.assertEqual(fig.shape[1], 8 + (hops + 1) * (192 + 8))
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "att.png")
            run(CLI, "vqa", self.IMG, q, "--attention", out)
            ref = saccade.load_image(out)
        self.assertEqual(fig.shape, ref.shape)
        self.assertLessEqual(float(np.abs(fig - ref).max()), 0.5 / 255 + 1e-6)
        # the module-level call takes the parts; bad maps are a ValueError
        same = saccade.vqa.hop_figure(img, a.attention, q, a.answer, a.prob)
        np.testing.assert_array_equal(same, fig)
        with self.assertRaises(ValueError):
            saccade.vqa.hop_figure(img, a.attention[0], q, a.answer, a.prob)
        with self.assertRaises(saccade.Error):
            saccade.vqa.hop_figure(img, a.attention, q, a.answer, a.prob, panel=4)

    def test_bad_questions(self):
        self.vqa.set_image(saccade.load_image(self.IMG))
        with self.assertRaises(saccade.Error):
            self.vqa.ask("   ?! ")
        with self.assertRaises(ValueError):
            self.vqa.ask(b"bytes")
        with self.assertRaises(ValueError):
            self.vqa.ask("is there a bag?", top_k=0)
        long_q = " ".join(["bag"] * 100) + "?"
        self.assertTrue(self.vqa.ask(long_q).truncated)
        with self.assertRaises(saccade.Error):
            saccade.VQA(os.path.join(SAMPLES, "chelsea.jpg"))

    def test_nul_in_question_is_an_error(self):
        # C would end the question at the NUL and answer "is there a bag?"
        self.vqa.set_image(saccade.load_image(self.IMG))
        with self.assertRaisesRegex(ValueError, "question contains a NUL character at index 15"):
            self.vqa.ask("is there a bag?\0 what colour is the coat?")
        img = saccade.load_image(self.IMG)
        a = self.vqa.ask("is there a bag?")
        for q, ans in (("is\0", a.answer), ("q", "yes\0no")):
            with self.assertRaises(ValueError):
                saccade.vqa.hop_figure(img, a.attention, q, ans, a.prob)
        with self.assertRaises(ValueError):
            self.vqa.ask("is there a bag?", top_k=2 ** 32 + 1)


class TestSpatialTransformer(unittest.TestCase):
    """prepare + predict reproduce `saccade stn --json` (theta, top-5)."""

    def test_matches_cli(self):
        st = saccade.SpatialTransformer()
        self.assertEqual(len(st.classes), 10)
        for name in sorted(os.listdir(os.path.join(SAMPLES, "stn")))[:3]:
            path = os.path.join(SAMPLES, "stn", name)
            x = st.prepare(saccade.load_image(path))
            self.assertEqual(x.shape, st.input_shape[1:])
            probs, theta = st.predict(x)
            ref = json.loads(run(CLI, "stn", path, "-o", tmp("stn.png"), "--json"))
            np.testing.assert_allclose(theta.reshape(6), ref["theta"], atol=2e-6)
            top = np.argsort(-probs)[:5]
            self.assertEqual([int(i) for i in top], [t["index"] for t in ref["top"]])
            np.testing.assert_allclose(probs[top], [t["probability"] for t in ref["top"]],
                                       atol=2e-6)
            self.assertEqual(st.classify(x)[0], ref["top"][0]["class"])
            # batch of two = the single results, up to the rounding of other BLAS kernels
            p2, t2 = st.predict(np.stack([x, x]))
            np.testing.assert_allclose(p2[1], probs, atol=4e-6)
            g = st.glimpse(x, theta)
            self.assertEqual(g.shape, st.glimpse_shape)
        # a centred theta of scale glimpse / input reads the central crop pixel for pixel
        # (bilinear at pixel centres, align_corners=False; identity when the sizes agree)
        (gh, gw), (H, W) = st.glimpse_shape[-2:], x.shape[-2:]
        crop = np.array([[gw / W, 0, 0], [0, gh / H, 0]], np.float32)
        oy, ox = (H - gh) // 2, (W - gw) // 2
        np.testing.assert_allclose(st.glimpse(x, crop), x[..., oy:oy + gh, ox:ox + gw], atol=1e-5)
        with self.assertRaises(ValueError):
            st.predict(np.zeros((5, 5), np.float32))


class TestCam(unittest.TestCase):
    """saccade.cam: the same maps as 'saccade saliency --raw' (one library
    entry point), classes by name or index, errors."""

    def test_cam(self):
        stn = os.path.join(SRC, "assets", "models", "fashion-stn.safetensors")
        png = os.path.join(SRC, "assets", "samples", "stn", "rts-1-Pullover.png")
        img = saccade.load_image(png)
        m = saccade.SaliencyModel(stn)
        d = tempfile.mkdtemp()
        try:
            for method in ("gradcam", "scorecam", "eigencam", "intgrad"):
                a, info = saccade.cam(img, m, method=method, target="Pullover",
                                      layer="encoder.stages.1", return_info=True)
                self.assertEqual(a.shape, img.shape[:2])
                self.assertEqual((info["target"], info["class_name"]), (2, "Pullover"))
                self.assertTrue(0 <= a.min() and 0.99 < a.max() <= 1 and a.std() > 0.01)
                b = saccade.cam(img, stn, method=method, target=2, layer="encoder.stages.1")
                np.testing.assert_array_equal(a, b)
                raw = os.path.join(d, method + ".npy")
                subprocess.run([CLI, "saliency", png, "--method", method, "--model", stn,
                                "--class", "Pullover", "--layer", "encoder.stages.1",
                                "-o", os.path.join(d, method + ".png"), "--raw", raw],
                               check=True, capture_output=True)
                np.testing.assert_allclose(np.load(raw), a, atol=1e-6)
            with self.assertRaisesRegex(saccade.Error, "unknown layer 'layer4'"):
                saccade.cam(img, m, layer="layer4")
            with self.assertRaisesRegex(saccade.Error, "Sock"):
                saccade.cam(img, m, target="Sock")
            with self.assertRaises(ValueError):
                saccade.cam(img, m, method="spectral")
            with self.assertRaises(ValueError):
                saccade.cam(img, m, method="scorecam", batch=0)
            with self.assertRaises(ValueError):
                saccade.cam(img, m, layer="encoder\0stages.1")
            m.close()
            with self.assertRaises(saccade.Error):
                saccade.cam(img, m)
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
