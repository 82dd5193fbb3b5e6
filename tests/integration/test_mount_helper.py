"""mount(8) integration: `mount -t fuse.mpackfs` (through Debian's mount.fuse3), `mount -t mpackfs`
(through scripts/mount.mpackfs), /etc/fstab lines and `mount -a`, the helper's option
translation, allow_other for other users, a daemonized mount with relative paths, recovery after
the daemon is killed (ENOTCONN, fusermount3 -u, remount), and the systemd unit
(systemd-analyze verify).

mount(8) resets PATH to the system default and looks for helpers only in /sbin, so every mount(8)
case runs in a private mount namespace (unshare -m): overlayfs adds the binaries under test to
/usr/local/bin, scripts/mount.mpackfs to /usr/sbin (/sbin) and, where needed, a test fstab to
/etc. Nothing on the machine is written. The namespace side is this file run as a script
(`--inner SPEC`): it executes the SPEC's steps and prints their results as JSON, then unmounts
and waits for the daemons to exit."""
import errno
import hashlib
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
HELPER = REPO / "scripts" / "mount.mpackfs"
UNIT = REPO / "scripts" / "mpackfs@.service"


# ---- the namespace side ----

def _mountinfo(mp):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            p = line.split()
            if p[4] == mp:
                i = p.index("-")
                return {"fstype": p[i + 1], "source": p[i + 2], "opts": p[5].split(","),
                        "super": p[i + 3].split(",")}
    return None


def _daemons(mp):
    """pids whose command line names mp (the daemons this run started for mp)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if mp.encode() in args and any(a.endswith(b"mpackfs") for a in args[:1]):
                out.append(int(d))
    return out


def _step(s):
    if "run" in s:
        env = dict(os.environ, **s.get("env", {}))
        p = subprocess.run(s["run"], capture_output=True, text=True, timeout=60, env=env)
        return {"rc": p.returncode, "out": p.stdout, "err": p.stderr}
    if "mount" in s:
        return _mountinfo(s["mount"])
    try:
        if "read" in s:
            with open(s["read"], "rb") as f:
                return {"sha": hashlib.sha256(f.read()).hexdigest()}
        if "readlink" in s:
            return {"link": os.readlink(s["readlink"])}
        if "listdir" in s:
            return {"names": sorted(os.listdir(s["listdir"]))}
        if "json" in s:
            with open(s["json"]) as f:
                return {"json": json.load(f)}
    except OSError as e:
        return {"errno": e.errno}
    raise ValueError(f"unknown step {s}")


def _cleanup(mps):
    left = []
    for mp in mps:
        if _mountinfo(mp) and subprocess.run(["umount", mp], capture_output=True).returncode:
            subprocess.run(["umount", "-l", mp], capture_output=True)
        deadline = time.monotonic() + 10
        while _daemons(mp) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in _daemons(mp):
            left.append(pid)
            os.kill(pid, signal.SIGKILL)
    return left


def inner(spec):
    for lower, target in spec.get("overlays", []):
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower}:{target}",
                        target], check=True)
    results = []
    try:
        for s in spec["steps"]:
            results.append(_step(s))
    finally:
        left = _cleanup(spec.get("cleanup", []))
        print(json.dumps({"results": results, "left": left}))


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--inner":
    inner(json.loads(sys.argv[2]))
    sys.exit(0)


# ---- the test side ----

import pytest  # noqa: E402  (not needed by the namespace side)


def ns(spec, timeout=120):
    """Run spec in a private mount namespace; returns the list of step results."""
    p = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, __file__,
                        "--inner", json.dumps(spec)], capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, f"namespace runner exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["left"] == [], f"mpackfs still running after umount: {out['left']}"
    return out["results"]


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def inst(mpack, mpackfs, tmp_path_factory):
    """The binaries under test installed like `make install`: bin/{mpack,mpackfs} and
    sbin/mount.mpackfs under a temporary prefix, plus a packed model in a CAR."""
    root = tmp_path_factory.mktemp("inst")
    for d, files in [("bin", [mpack, mpackfs]), ("sbin", [HELPER])]:
        (root / d).mkdir()
        subprocess.run(["install", "-m", "755", *map(str, files), str(root / d)], check=True)
    src = root / "tiny-model"
    src.mkdir()
    rnd = random.Random(11)
    files = {"README.md": b"# tiny\n", "model.safetensors": rnd.randbytes(1_700_000)}
    for name, data in files.items():
        (src / name).write_bytes(data)
    car = root / "tiny.car"
    p = subprocess.run([mpack, "pack", src, "--car", car, "--out", root / "MODEL_PACK.json",
                        "--json"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    return {"root": root, "bin": root / "bin", "sbin": root / "sbin", "car": str(car),
            "m": res["manifest_cid"], "dir": res["directory_cid"], "files": files}


def overlays(inst, etc=None):
    o = [[str(inst["bin"]), "/usr/local/bin"], [str(inst["sbin"]), "/usr/sbin"]]
    return o + ([[str(etc), "/etc"]] if etc else [])


@pytest.fixture
def mps(short_tmp):
    """Mount point factory under a short /tmp path; kills leftover daemons at teardown."""
    made = []
    os.chmod(short_tmp, 0o755)  # other users (setpriv) must reach the mount points

    def make(name):
        p = short_tmp / name
        p.mkdir()
        made.append(str(p))
        return str(p)

    yield make
    for mp in made:
        for _ in range(4):  # mounts may be stacked
            if _mountinfo(mp):
                subprocess.run(["fusermount3", "-uz", mp], capture_output=True)
        for pid in _daemons(mp):
            os.kill(pid, signal.SIGKILL)


# options mount(8) or systemd use, which FUSE must never see
NOISE = "defaults,noauto,nofail,_netdev,x-systemd.automount,x-systemd.idle-timeout=60,comment=x"


def check_pack(results, inst):
    """results of [readlink alias, read README, read safetensors]."""
    assert results[0] == {"link": inst["m"]}
    assert results[1] == {"sha": sha(inst["files"]["README.md"])}
    assert results[2] == {"sha": sha(inst["files"]["model.safetensors"])}


def pack_steps(mp):
    return [{"readlink": f"{mp}/llama"}, {"read": f"{mp}/llama/README.md"},
            {"read": f"{mp}/llama/model.safetensors"}]


@pytest.mark.parametrize("fstype", ["fuse.mpackfs", "mpackfs"])
def test_mount_t(inst, mps, short_tmp, fstype):
    mp = mps("models")
    opts = (f"allow_other,offline,car={inst['car']},cache_dir={short_tmp / 'cache'},"
            f"alias=llama={inst['m']},noatime,{NOISE}")
    steps = [{"run": ["mount", "-v", "-t", fstype, "mpackfs", mp, "-o", opts]},
             {"mount": mp}, *pack_steps(mp),
             {"run": ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat",
                      f"{mp}/llama/README.md"]},
             {"run": ["umount", mp]}, {"mount": mp}]
    r = ns({"overlays": overlays(inst), "steps": steps, "cleanup": [mp]})
    assert r[0]["rc"] == 0, r[0]
    info = r[1]
    assert info and info["fstype"] == "fuse.mpackfs" and info["source"] == "mpackfs", info
    assert "ro" in info["opts"] and "noatime" in info["opts"], info
    assert "allow_other" in info["super"], info
    check_pack(r[2:5], inst)
    assert r[5]["rc"] == 0 and r[5]["out"] == "# tiny\n", f"another user reads: {r[5]}"
    assert r[6]["rc"] == 0 and r[7] is None, "umount"
    if fstype == "mpackfs":  # the helper's -v shows what it runs: the noise is gone
        line = [x for x in r[0]["err"].splitlines() if x.startswith("mount.mpackfs: ")]
        assert line and "/usr/local/bin/mpackfs mpackfs " + mp in line[0], r[0]["err"]
        for word in ["defaults", "noauto", "nofail", "_netdev", "x-systemd", "comment"]:
            assert word not in line[0], line[0]


def test_without_allow_other_others_are_denied(inst, mps, short_tmp):
    mp = mps("private")
    opts = f"offline,car={inst['car']},cache_dir={short_tmp / 'cache'},alias=llama={inst['m']}"
    steps = [{"run": ["mount", "-t", "mpackfs", "mpackfs", mp, "-o", opts]},
             {"run": ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "ls", mp]},
             {"read": f"{mp}/llama/README.md"}]
    r = ns({"overlays": overlays(inst), "steps": steps, "cleanup": [mp]})
    assert r[0]["rc"] == 0, r[0]
    assert r[1]["rc"] != 0 and "Permission denied" in r[1]["err"], r[1]
    assert r[2] == {"sha": sha(inst["files"]["README.md"])}


def test_fstab(inst, mps, short_tmp):
    a, b = mps("a"), mps("b")
    conf = short_tmp / "models.conf"
    conf.write_text(f"offline = true\ncar = {inst['car']}\ncache_dir = {short_tmp / 'cache'}\n"
                    f"[aliases]\nllama = {inst['m']}\n")
    etc = short_tmp / "etc"
    etc.mkdir()
    gws = "http://127.0.0.1:9|http://127.0.0.1:10"
    (etc / "fstab").write_text(
        "# test fstab\n"
        f"mpackfs {a} fuse.mpackfs allow_other,config={conf},_netdev,nofail 0 0\n"
        f"mpackfs {b} mpackfs noauto,config={conf},gateways={gws},x-systemd.automount 0 0\n")
    steps = [{"run": ["mount", "-a"]}, {"mount": a}, {"mount": b}, *pack_steps(a),
             {"run": ["mount", b]}, {"mount": b}, *pack_steps(b),
             {"json": f"{b}/.mpackfs/stats"}, {"json": f"{a}/.mpackfs/stats"},
             {"run": ["umount", a, b]}]
    r = ns({"overlays": overlays(inst, etc), "steps": steps, "cleanup": [a, b]})
    assert r[0]["rc"] == 0, r[0]
    assert r[1] and r[1]["fstype"] == "fuse.mpackfs" and "allow_other" in r[1]["super"], r[1]
    assert r[2] is None, "noauto: not mounted by mount -a"
    check_pack(r[3:6], inst)
    assert r[6]["rc"] == 0, r[6]
    assert r[7] and r[7]["fstype"] == "fuse.mpackfs", r[7]
    check_pack(r[8:11], inst)
    assert [s["url"] for s in r[11]["json"]["sources"]] == gws.split("|"), \
        "gateways= on the mount line replaces the file's offline sources"
    assert r[12]["json"]["sources"] == [], "offline from config="
    assert r[13]["rc"] == 0, r[13]


def test_mount_errors_exit_2(inst, mps, short_tmp):
    mp = mps("bad")
    bad = short_tmp / "bad.conf"
    bad.write_text("offline = true\ngatway = http://127.0.0.1:1\n")
    steps = [{"run": ["mount", "-t", "mpackfs", "mpackfs", mp, "-o", "timeout=zz"]},
             {"run": ["mount", "-t", "fuse.mpackfs", "mpackfs", mp, "-o", f"config={bad}"]},
             {"run": ["mount", "-t", "mpackfs", "mpackfs", mp, "-o", f"config={bad}"]},
             {"mount": mp}]
    r = ns({"overlays": overlays(inst), "steps": steps, "cleanup": [mp]})
    assert r[0]["rc"] == 2 and "-o timeout: 'zz' is not a number of seconds" in r[0]["err"], r[0]
    for x in r[1:3]:
        assert x["rc"] == 2 and f"{bad}:2: unknown key 'gatway'" in x["err"], x
    assert r[3] is None


def fake_mpackfs(tmp_path):
    """A stand-in mpackfs that prints its arguments, one per line."""
    fake = tmp_path / "fake-mpackfs"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "[$a]"; done\n')
    fake.chmod(0o755)
    return str(fake)


def helper(tmp_path, *args, fake=True):
    env = dict(os.environ)
    if fake:
        env["MPACKFS_BIN"] = fake_mpackfs(tmp_path)
    return subprocess.run(["sh", str(HELPER), *args], capture_output=True, text=True, env=env,
                          timeout=30)


def test_helper_translates_options(tmp_path):
    p = helper(tmp_path, "mpackfs", "/models", "-o",
               f"rw,allow_other,{NOISE},gateways=http://a:1|http://b:2,helper=x",
               "-o", "user,users,nouser,owner,group,ro,noatime,config=/etc/m p.conf")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "[mpackfs]", "[/models]", "[-o]",
        "[allow_other,gateways=http://a:1|http://b:2,noatime,config=/etc/m p.conf]"]
    p = helper(tmp_path, "src", "/m", "-o", "defaults,_netdev")
    assert p.stdout.splitlines() == ["[src]", "[/m]"], "no -o when nothing is left"
    p = helper(tmp_path, "mpackfs", "/m", "-svn", "-t", "mpackfs", "-oallow_other")
    assert p.returncode == 0 and p.stdout.splitlines()[-1] == "[allow_other]"
    assert p.stderr.startswith("mount.mpackfs: ") and "/m -o allow_other" in p.stderr
    p = helper(tmp_path, "mpackfs", "/m", "-f", "-o", "allow_other")
    assert p.returncode == 0 and p.stdout == "", "-f (fake) runs nothing"
    p = helper(tmp_path, "mpackfs", "/m", "-fv", "-N", "1234")
    assert "nsenter --mount=/proc/1234/ns/mnt -- " in p.stderr, p.stderr
    for bad, msg in [(["mpackfs"], "usage:"), (["s", "/m", "-q"], "unknown flag -q"),
                     (["s", "/m", "extra"], "unexpected argument 'extra'"),
                     (["s", "/m", "-o"], "-o needs a value")]:
        p = helper(tmp_path, *bad)
        assert p.returncode == 1 and msg in p.stderr, (bad, p.stderr)
    env = dict(os.environ, PATH="/nonexistent")
    p = subprocess.run(["/bin/sh", str(HELPER), "s", "/m", "-f"], capture_output=True,
                       text=True, env=env)
    assert p.returncode in (0, 1)  # found in /usr/local/bin etc. on a real install, or not
    if p.returncode == 1:
        assert "mpackfs not found" in p.stderr


def test_daemon_with_relative_paths(mpackfs, inst, mps, short_tmp):
    """Without -f mpackfs detaches and chdirs to /: relative --car/--cache-dir still work."""
    mp = mps("rel")
    work = short_tmp / "work"
    work.mkdir()
    (work / "m.car").write_bytes(pathlib.Path(inst["car"]).read_bytes())
    p = subprocess.run([mpackfs, "--offline", "--car", "m.car", "--cache-dir", "cache",
                        "--alias", f"llama={inst['m']}", mp], cwd=work, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    try:
        with open(os.path.join(mp, "llama", "model.safetensors"), "rb") as f:
            assert sha(f.read()) == sha(inst["files"]["model.safetensors"])
        assert (work / "cache").is_dir()
    finally:
        assert subprocess.run(["fusermount3", "-u", mp]).returncode == 0
    deadline = time.monotonic() + 10
    while _daemons(mp) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _daemons(mp) == [], "the daemon exits after fusermount3 -u"


def test_recovery_after_the_daemon_dies(mpackfs, inst, mps, short_tmp):
    """The documented recovery: a killed daemon leaves ENOTCONN; fusermount3 -u, remount."""
    mp = mps("crash")
    args = [mpackfs, "-f", "--offline", "--car", inst["car"], "--cache-dir",
            str(short_tmp / "cache"), "--alias", f"llama={inst['m']}", mp]
    for attempt in range(2):
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 10
        while not _mountinfo(mp):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.02)
        with open(os.path.join(mp, "llama", "README.md"), "rb") as f:
            assert f.read() == inst["files"]["README.md"]
        if attempt == 1:
            break
        proc.kill()
        proc.wait()
        with pytest.raises(OSError) as ei:
            os.stat(os.path.join(mp, "llama"))
        assert ei.value.errno == errno.ENOTCONN, ei.value
        assert "Transport endpoint is not connected" in str(ei.value)
        assert subprocess.run(["fusermount3", "-u", mp]).returncode == 0
        assert _mountinfo(mp) is None
    assert subprocess.run(["fusermount3", "-u", mp]).returncode == 0
    assert proc.wait(10) == 0


def test_systemd_unit(inst, tmp_path):
    text = UNIT.read_text()
    keys = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            keys.setdefault(k, []).append(v)
    assert keys["Type"] == ["simple"] and keys["Restart"] == ["on-failure"]
    assert keys["ExecStart"] == ["/usr/local/bin/mpackfs -f -o allow_other %f"]
    assert keys["ExecStop"] == ["-/usr/bin/fusermount3 -u %f"]
    assert keys["ExecStopPost"] == ["-/usr/bin/fusermount3 -uz %f"]
    units = tmp_path / "units"
    units.mkdir()
    (units / "mpackfs@.service").write_text(text)
    (units / "broken@.service").write_text(text.replace("Type=simple", "Type=simpel"))
    verify = ["systemd-analyze", "verify", "--man=no"]
    r = ns({"overlays": overlays(inst), "steps": [
        {"run": verify + [str(units / "mpackfs@models.service")]},
        {"run": verify + [str(units / "broken@models.service")]}]})
    assert r[0]["rc"] == 0 and r[0]["err"] == "", r[0]
    assert "Failed to parse service type" in r[1]["err"], "verify does check: " + r[1]["err"]
