"""PEP 517 build backend of the saccade Python package (standard library only).

The wheel holds the pure-Python package saccade/ and the library it binds:
- from a source tree (this folder is <repo>/tools/python): CMake builds
  libsaccade in <repo>/build/run (the build tools/run.sh makes; configured the
  same way if missing), and `cmake --install --component runtime` puts the
  shared library and the shipped models into the wheel under saccade/_native/,
  where the library finds its models relative to itself;
- otherwise, or with `--config-settings library=installed`: the libsaccade
  installed on this machine (pkg-config saccade), by absolute path.
`--config-settings build-dir=DIR` uses another CMake build folder of the
source tree. saccade/_install.py tells the package which library to load.
"""
import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tools/python
REPO = os.path.dirname(os.path.dirname(HERE))
NAME = "saccade"
SUMMARY = "Visual attention: captioning, saliency, VQA and spatial transformers (libsaccade)"


def _say(msg):
    print("saccade build: " + msg, file=sys.stderr, flush=True)


def _source_tree():
    try:
        with open(os.path.join(REPO, "CMakeLists.txt"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r"project\(saccade VERSION ([0-9.]+)", text)
    return m.group(1) if m else None


def _run(cmd):
    _say(" ".join(cmd))
    r = subprocess.run(cmd, stdout=sys.stderr)
    if r.returncode:
        raise RuntimeError("saccade build: '%s' failed (exit %d)" % (" ".join(cmd), r.returncode))


def _pkg_config(*args):
    try:
        r = subprocess.run(["pkg-config", *args, NAME], capture_output=True, text=True)
    except OSError:
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def _installed():
    """(version, absolute path of the installed libsaccade.so.N) via pkg-config."""
    version, libdir = _pkg_config("--modversion"), _pkg_config("--variable=libdir")
    if not version or not libdir:
        return None
    path = os.path.join(os.path.realpath(libdir), "libsaccade.so." + version.split(".")[0])
    return (version, path) if os.path.exists(path) else None


def _build(settings):
    """Build libsaccade in the source tree's CMake build folder; return the folder."""
    build = os.path.abspath(settings.get("build-dir") or os.path.join(REPO, "build", "run"))
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        _run(["cmake", "-S", REPO, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
              "-DSACCADE_TESTS=OFF"])
    _run(["cmake", "--build", build, "--target", "saccade", "-j", str(os.cpu_count() or 1)])
    return build


def _library(settings, staging):
    """Fill staging/saccade/ with _install.py (and _native/); return the version."""
    version = _source_tree()
    mode = settings.get("library", "build" if version else "installed")
    pkg = os.path.join(staging, NAME)
    if mode == "installed":
        found = _installed()
        if not found:
            raise RuntimeError(
                "saccade build: no installed libsaccade (pkg-config saccade found none) and no "
                "source tree to build one: install saccade (cmake --install), or set "
                "PKG_CONFIG_PATH to its lib/pkgconfig folder")
        version, path = found
        _say("using the installed library " + path)
        lib = path
    elif mode == "build":
        if not version:
            raise RuntimeError("saccade build: %s is not the saccade source tree" % REPO)
        build = _build(settings)
        native = os.path.join(pkg, "_native")
        _run(["cmake", "--install", build, "--prefix", native, "--component", "runtime"])
        libs = []
        for root, _, files in os.walk(native):
            for f in files:
                p = os.path.join(root, f)
                if os.path.islink(p):
                    os.unlink(p)  # wheels hold no symlinks; the package loads the file itself
                elif f.startswith("libsaccade.so"):
                    libs.append(p)
        if len(libs) != 1:
            raise RuntimeError("saccade build: expected one libsaccade.so in %s, found %s"
                               % (native, libs))
        lib = os.path.relpath(libs[0], pkg)
    else:
        raise RuntimeError("saccade build: library=%s: use build or installed" % mode)
    with open(os.path.join(pkg, "_install.py"), "w", encoding="utf-8") as f:
        f.write("# Written by the wheel build: the library this package was installed with,\n"
                "# relative to this folder (or absolute).\nLIBRARY = %r\n" % lib)
    return version


def _metadata(version):
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\n"
            "Requires-Python: >=3.9\nRequires-Dist: numpy\n" % (NAME, version, SUMMARY))


def _wheel_text(purelib):
    return ("Wheel-Version: 1.0\nGenerator: saccade_backend\nRoot-Is-Purelib: %s\nTag: %s\n"
            % ("true" if purelib else "false", _tag(purelib)))


def _tag(purelib):
    plat = re.sub(r"[-.]", "_", sysconfig.get_platform())
    return "py3-none-any" if purelib else "py3-none-" + plat


def _write_wheel(wheel_directory, version, files, purelib=False):
    """files: [(archive name, path on disk)]. Returns the wheel's file name."""
    dist = "%s-%s.dist-info" % (NAME, version)
    name = "%s-%s-%s.whl" % (NAME, version, _tag(purelib))
    extra = [(dist + "/METADATA", _metadata(version).encode()),
             (dist + "/WHEEL", _wheel_text(purelib).encode())]
    record = []
    tmp = os.path.join(wheel_directory, "." + name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        def add(arc, data, mode=0o644):
            info = zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append("%s,sha256=%s,%d" % (arc, digest.decode(), len(data)))
        for arc, path in sorted(files):
            with open(path, "rb") as f:
                add(arc, f.read(), 0o755 if os.access(path, os.X_OK) else 0o644)
        for arc, data in extra:
            add(arc, data)
        record.append(dist + "/RECORD,,")
        z.writestr(zipfile.ZipInfo(dist + "/RECORD", date_time=(2020, 1, 1, 0, 0, 0)),
                   "\n".join(record) + "\n")
    os.replace(tmp, os.path.join(wheel_directory, name))
    return name


def _package_files(staging):
    files = []
    src = os.path.join(HERE, NAME)
    for f in sorted(os.listdir(src)):
        if f.endswith(".py") and f != "_install.py":
            files.append((NAME + "/" + f, os.path.join(src, f)))
    for root, _, names in os.walk(staging):
        for f in names:
            p = os.path.join(root, f)
            files.append((os.path.relpath(p, staging).replace(os.sep, "/"), p))
    return files


# ---------------------------------------------------------------- PEP 517 hooks
def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    version = _source_tree() or (_installed() or ("0",))[0]
    dist = "%s-%s.dist-info" % (NAME, version)
    os.makedirs(os.path.join(metadata_directory, dist), exist_ok=True)
    with open(os.path.join(metadata_directory, dist, "METADATA"), "w") as f:
        f.write(_metadata(version))
    return dist


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    settings = dict(config_settings or {})
    staging = tempfile.mkdtemp(prefix="saccade-wheel-")
    try:
        os.makedirs(os.path.join(staging, NAME))
        version = _library(settings, staging)
        return _write_wheel(wheel_directory, version, _package_files(staging))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """`pip install -e`: a .pth naming this folder; the package then loads the
    library of the source tree's build folders (built here if missing)."""
    version = _source_tree()
    if not version:
        raise RuntimeError("saccade build: an editable install needs the source tree")
    _build(dict(config_settings or {}))
    staging = tempfile.mkdtemp(prefix="saccade-editable-")
    try:
        pth = os.path.join(staging, NAME + ".pth")
        with open(pth, "w", encoding="utf-8") as f:
            f.write(HERE + "\n")
        return _write_wheel(wheel_directory, version, [(NAME + ".pth", pth)], purelib=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
