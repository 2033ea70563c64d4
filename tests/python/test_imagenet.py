"""Tests of saccade.ImageNetClassifier and saccade.CamModel (run by
tests/cli/test_python.sh): a seeded random torchvision resnet18 converted by
tools/convert_torchvision.py, against torchvision (classification of a photo,
autograd gradients w.r.t. layer4 and the input), and a small torchvision ViT."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

SRC = os.environ.get("SACCADE_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("SACCADE_BUILD_DIR") or os.path.join(SRC, "build")
CLI = os.environ.get("SACCADE_CLI") or os.path.join(BUILD, "saccade")
PY = os.environ.get("SACCADE_PYTHON") or "/usr/bin/python3"
sys.path.insert(0, os.path.join(SRC, "tools", "python"))
sys.path.insert(0, os.path.join(SRC, "tools"))
import saccade  # noqa: E402
import convert_torchvision as cv  # noqa: E402


class ImageNetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pyimagenet.", dir=BUILD if os.path.isdir(BUILD) else None)
        cls.r18 = os.path.join(cls.tmp, "r18.safetensors")
        cls.vit = os.path.join(cls.tmp, "vit.safetensors")
        conv = os.path.join(SRC, "tools", "convert_torchvision.py")
        subprocess.run([PY, conv, "--arch", "resnet18", "--random-seed", "2", "--perturb-bn", "-o",
                        cls.r18], check=True, capture_output=True)
        subprocess.run([PY, conv, "--arch", "vit", "--vit-shape", "32,8,2,2,32,64,10", "-o",
                        cls.vit], check=True, capture_output=True)
        from skimage import data
        cls.img = data.astronaut()  # (512, 512, 3) uint8
        cls.model = cv.build_model("resnet18", None, seed=2, perturb_bn=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def torch_input(self):
        from PIL import Image
        return cv.pick_preset("resnet18").transforms()(Image.fromarray(self.img))[None]

    def test_classify_matches_torchvision(self):
        clf = saccade.ImageNetClassifier(self.r18)
        self.assertEqual(clf.num_classes, 1000)
        self.assertEqual(clf.classes[281], "tabby")
        top = clf.classify(self.img, top_k=5)
        with torch.no_grad():
            p = torch.softmax(self.model(self.torch_input()), 1)[0]
        v, i = p.topk(5)
        self.assertEqual([t["index"] for t in top], i.tolist())
        self.assertLess(max(abs(t["prob"] - float(q)) for t, q in zip(top, v)), 1e-5)
        np.testing.assert_allclose(clf.predict(self.img), p.numpy(), atol=1e-5, rtol=0)
        with self.assertRaises(ValueError):
            clf.classify(self.img, top_k=0)

    def test_gradients_match_autograd(self):
        cm = saccade.CamModel(self.r18)
        self.assertIn("layer3.1", cm.layers)
        self.assertEqual(cm.default_layer, "layer4")
        x, g = cm.preprocess(self.img)
        self.assertEqual(g["crop"], 224)
        np.testing.assert_allclose(x, self.torch_input()[0].numpy(), atol=1e-6, rtol=0)
        lg, act = cm.forward(x, "layer4")
        k = int(lg[0].argmax())
        d = np.zeros_like(lg)
        d[0, k] = 1
        dact, dx = cm.backward(d, dx=True)
        acts = {}
        self.model.layer4.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
        xt = torch.from_numpy(x[None]).requires_grad_(True)
        out = self.model(xt)
        ga, gx = torch.autograd.grad(out[0, k], [acts["a"], xt])
        for mine, ref in ((act, acts["a"].detach()), (dact, ga)):
            ref = ref.numpy()
            np.testing.assert_allclose(mine, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
        # The input gradient runs back through every ReLU and max-pool: one
        # whose inputs are within rounding of 0 (or of each other) can go the
        # other way in saccade's and PyTorch's summation orders (seen with
        # OpenBLAS's AVX2 kernels: 1% of the elements, in one region), so all
        # but 3% within 1e-4 and the whole pointing the same way.
        gx = gx.numpy()
        close = np.isclose(dx, gx, rtol=1e-4, atol=1e-4 * np.abs(gx).max())
        self.assertGreater(close.mean(), 0.97)
        cos = float((dx * gx).sum() / (np.linalg.norm(dx) * np.linalg.norm(gx)))
        self.assertGreater(cos, 0.95)
        np.testing.assert_allclose(cm.forward_from("layer4", act), lg, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(cm.logits(x[None]), lg, rtol=1e-4, atol=1e-4)
        with self.assertRaises(saccade.Error) as e:
            cm.layer_shape("layer9")
        self.assertIn("layer4", str(e.exception))
        with self.assertRaises(saccade.Error):
            cm.class_index(1000)
        self.assertEqual(cm.class_index("tabby"), 281)

    def test_vit(self):
        cm = saccade.CamModel(self.vit)
        self.assertTrue(cm.tokens)
        self.assertEqual(cm.layers, ["encoder.layers.0", "encoder.layers.1"])
        self.assertEqual(cm.layer_shape("encoder.layers.encoder_layer_1"), (32, 4, 4))
        x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
        lg, act = cm.forward(x, "encoder.layers.0")
        np.testing.assert_allclose(cm.forward_from("encoder.layers.0", act), lg, rtol=1e-5,
                                   atol=1e-6)
        cm.forward(x)  # forward_from ended the forward the rollout reads
        r = cm.rollout(1)
        self.assertEqual(r.shape, (4, 4))
        self.assertTrue(np.all(r > 0) and r.sum() < 1)
        with self.assertRaises(saccade.Error):
            cm.set_input_size(64, 64)

    def test_vit_rollout_method(self):
        """rollout through the saliency table: saccade.cam and 'saccade
        saliency --raw' give the same map over the whole image; the discard
        ratio changes it; other models and bad ratios are refused."""
        img = self.img[:200, :300]
        a, info = saccade.cam(img, self.vit, method="rollout", discard_ratio=0.9,
                              return_info=True)
        self.assertEqual(a.shape, img.shape[:2])
        self.assertTrue(0 <= a.min() and 0.99 < a.max() <= 1 and a.std() > 0.01)
        b = saccade.cam(img, self.vit, method="rollout")
        self.assertGreater(np.abs(a - b).max(), 0.01)
        d = tempfile.mkdtemp(dir=self.tmp)
        png, raw = os.path.join(d, "p.png"), os.path.join(d, "r.npy")
        saccade.save_image(png, img)
        r = subprocess.run([CLI, "saliency", png, "--method", "rollout", "--discard", "0.9",
                            "--model", self.vit, "-o", os.path.join(d, "o.png"), "--raw", raw],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        np.testing.assert_allclose(np.load(raw), a, atol=1e-6)
        with self.assertRaisesRegex(saccade.Error, "needs a model with attention"):
            saccade.cam(img, self.r18, method="rollout")
        with self.assertRaises(ValueError):
            saccade.cam(img, self.vit, method="rollout", discard_ratio=1.0)
        with self.assertRaisesRegex(saccade.Error, "hirescam is zero at encoder.layers.1"):
            saccade.cam(img, self.vit, method="hirescam", layer="encoder.layers.1")


if __name__ == "__main__":
    unittest.main()
