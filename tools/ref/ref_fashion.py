"""Reference values for tests/unit/test_datasets.c: reads Debian's Fashion-MNIST
gzipped IDX files with numpy (independently of saccade's reader).

Usage: ref_fashion.py OUT_DIR [DATA_DIR]

Writes (float32 .npy), for split in {train, test}:
  <split>_label_counts.npy   10 counts
  <split>_labels.npy         all labels
  <split>_image_sums.npy     sum of the 784 pixels of every image (exact in float32)
  <split>_first.npy          the first 3 images, 3 x 28 x 28
  <split>_last.npy           the last image, 28 x 28
"""
import gzip
import os
import sys

import numpy as np


def read_idx(path, header):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    return np.frombuffer(raw, dtype=np.uint8, offset=header)


def main():
    out = sys.argv[1]
    data = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    for split, prefix in (("train", "train"), ("test", "t10k")):
        labels = read_idx(os.path.join(data, prefix + "-labels-idx1-ubyte.gz"), 8)
        images = read_idx(os.path.join(data, prefix + "-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28)
        assert images.shape[0] == labels.shape[0]
        f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)
        np.save(os.path.join(out, split + "_label_counts.npy"), f32(np.bincount(labels, minlength=10)))
        np.save(os.path.join(out, split + "_labels.npy"), f32(labels))
        np.save(os.path.join(out, split + "_image_sums.npy"), f32(images.reshape(len(images), -1).sum(1)))
        np.save(os.path.join(out, split + "_first.npy"), f32(images[:3]))
        np.save(os.path.join(out, split + "_last.npy"), f32(images[-1]))


if __name__ == "__main__":
    main()
