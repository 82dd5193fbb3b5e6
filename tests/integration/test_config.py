"""Configuration: config files, environment and flags with per-key precedence and origins,
through `mpack config --json` and through the behaviour of a real mpackfs mount (offline,
sources and cache size from the file, aliases as symlinks in the mount root), and errors that
name the file and line (exit 2 for `mpack config` and for mpackfs).

Every `mpack config` runs in a private mount namespace whose /etc carries a test-provided
/etc/mpackfs.conf (overlayfs), so the machine's own /etc/mpackfs.conf never leaks in; the user
file lives under a temporary $XDG_CONFIG_HOME."""
import hashlib
import json
import os
import pathlib
import random
import subprocess
import time

import pytest

CID = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"  # any valid CID
CID2 = "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u"
SETTINGS = ["api", "gateway", "car", "offline", "no_cache", "cache_dir", "cache_size", "timeout",
            "connect_timeout", "stall_timeout", "max_inflight", "max_per_source", "source_window",
            "retries",
            "ca_file", "log_level", "read_ahead_kb", "allow_other", "max_threads",
            "direct_reads", "passthrough", "cold_direct"]


# ---- running mpack config ----

@pytest.fixture
def cenv(tmp_path):
    """A clean environment: no MPACKFS_* variables, a private HOME and XDG_CONFIG_HOME, an
    (empty unless written) system file at tmp_path/etc/mpackfs.conf."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPACKFS_")}
    env["HOME"] = str(tmp_path / "home")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    (tmp_path / "xdg" / "mpackfs").mkdir(parents=True)
    (tmp_path / "home").mkdir()
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "mpackfs.conf").write_text("")
    env["_TEST_ETC"] = str(tmp_path / "etc")
    return env


def user_file(env):
    return pathlib.Path(env["XDG_CONFIG_HOME"]) / "mpackfs" / "config"


def system_file(env):
    return pathlib.Path(env["_TEST_ETC"]) / "mpackfs.conf"


def run_config(mpack, env, *args, timeout=30):
    """mpack config ARGS inside a mount namespace whose /etc/mpackfs.conf is the test's."""
    script = ('mount -t overlay overlay -o "lowerdir=$_TEST_ETC:/etc" /etc || exit 99\n'
              'exec "$@"\n')
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                           "sh", mpack, "config", *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=timeout)


def config_json(mpack, env, *args):
    p = run_config(mpack, env, "--json", *args)
    assert p.returncode == 0, f"mpack config exited {p.returncode}: {p.stderr}"
    return json.loads(p.stdout)


def setting(cfg, key):
    s = cfg["settings"][key]
    return s["value"], s["origin"]


def config_error(mpack, env, *args):
    p = run_config(mpack, env, *args)
    assert p.returncode == 2, f"expected exit 2, got {p.returncode}: {p.stdout} {p.stderr}"
    assert p.stderr.startswith("mpack config: "), p.stderr
    return p.stderr


# ---- mpack config ----

def test_defaults(mpack, cenv):
    cfg = config_json(mpack, cenv)
    assert [(f["path"], f["layer"], f["loaded"]) for f in cfg["files"]] == [
        ("/etc/mpackfs.conf", "system", True), (str(user_file(cenv)), "user", False)]
    assert sorted(cfg["settings"]) == sorted(SETTINGS)
    for key, s in cfg["settings"].items():
        if key != "ca_file":
            assert s["origin"] == "default" and s["layer"] == "default", (key, s)
    assert setting(cfg, "api") == ("http://127.0.0.1:5001", "default")
    assert setting(cfg, "gateway")[0] == ["http://127.0.0.1:8080", "https://trustless-gateway.link",
                                          "https://ipfs.io"]
    assert setting(cfg, "cache_size")[0] == 20 << 30
    assert setting(cfg, "timeout")[0] == 60
    assert [setting(cfg, k)[0] for k in ("max_inflight", "max_per_source", "source_window")] == [
        32, 24, 8 << 20]
    assert setting(cfg, "offline")[0] is False and setting(cfg, "car")[0] == []
    assert setting(cfg, "ca_file")[0] is None
    assert cfg["settings"]["read_ahead_kb"]["mount_only"] is True
    assert cfg["aliases"] == {}


def test_file_values_and_origins(mpack, cenv):
    f = user_file(cenv)
    f.write_text(
        "# a comment\n"                                          # 1
        "api = http://127.0.0.1:5901   # inline comment\n"       # 2
        "gateway = http://127.0.0.1:8901\n"                      # 3
        "gateway = \"https://gw.example/ipfs-root\"\n"           # 4
        "\n"                                                     # 5
        "car = /srv/a.car\n"                                     # 6
        "offline = yes\n"                                        # 7
        "cache-dir = /srv/cache\n"                               # 8
        "cache_size = 1.5G\n"                                    # 9
        "timeout = 2.5\n"                                        # 10
        "connect_timeout = 1\n"                                  # 11
        "stall_timeout = 2\n"                                    # 12
        "max_inflight = 4\n"                                     # 13
        "max_per_source = 2\n"                                   # 14
        "retries = 0\n"                                          # 15
        "ca_file = /etc/ssl/certs/ca-certificates.crt\n"         # 16
        "log_level = debug\n"                                    # 17
        "[aliases]\n"                                            # 18
        f"llama-3 = {CID}\n"                                     # 19
        f"  old model  = {CID2}  # v0 CID\n"                     # 20
        "[mpackfs]\n"                                            # 21
        "read_ahead_kb = 0\n"                                    # 22
        "allow_other = on\n"                                     # 23
        "max_threads = 32\n")                                    # 24
    cfg = config_json(mpack, cenv)
    want = {"api": ("http://127.0.0.1:5901", 2), "car": (["/srv/a.car"], 6),
            "gateway": (["http://127.0.0.1:8901", "https://gw.example/ipfs-root"], 3),
            "offline": (True, 7), "cache_dir": ("/srv/cache", 8),
            "cache_size": (3 << 29, 9), "timeout": (2.5, 10), "connect_timeout": (1, 11),
            "stall_timeout": (2, 12), "max_inflight": (4, 13), "max_per_source": (2, 14),
            "retries": (0, 15), "ca_file": ("/etc/ssl/certs/ca-certificates.crt", 16),
            "log_level": ("debug", 17), "read_ahead_kb": (0, 22), "allow_other": (True, 23),
            "max_threads": (32, 24)}
    for key, (value, line) in want.items():
        assert setting(cfg, key) == (value, f"{f}:{line}"), key
        assert cfg["settings"][key]["layer"] == "user"
    assert cfg["settings"]["gateway"]["origins"] == [f"{f}:3", f"{f}:4"]
    assert setting(cfg, "no_cache") == (False, "default")
    assert cfg["aliases"] == {
        "llama-3": {"cid": CID, "origin": f"{f}:19", "layer": "user"},
        "old model": {"cid": CID2, "origin": f"{f}:20", "layer": "user"}}
    assert cfg["files"][1] == {"path": str(f), "layer": "user", "loaded": True}


# key, file line, env variable, env value, flag args, and the value in each layer
PRECEDENCE = [
    ("api", "api = http://127.0.0.1:7001", "MPACKFS_API", "http://127.0.0.1:7002",
     ["--api", "http://127.0.0.1:7003"],
     ["http://127.0.0.1:7001", "http://127.0.0.1:7002", "http://127.0.0.1:7003"]),
    ("gateway", "gateway = http://127.0.0.1:7101\ngateway = http://127.0.0.1:7102",
     "MPACKFS_GATEWAYS", "http://127.0.0.1:7201|http://127.0.0.1:7202, http://127.0.0.1:7203",
     ["--gateway", "http://127.0.0.1:7301"],
     [["http://127.0.0.1:7101", "http://127.0.0.1:7102"],
      ["http://127.0.0.1:7201", "http://127.0.0.1:7202", "http://127.0.0.1:7203"],
      ["http://127.0.0.1:7301"]]),
    ("cache_dir", "cache_dir = /srv/a", "MPACKFS_CACHE_DIR", "/srv/b", ["--cache-dir", "/srv/c"],
     ["/srv/a", "/srv/b", "/srv/c"]),
    ("cache_size", "cache_size = 1G", "MPACKFS_CACHE_SIZE", "2G", ["--cache-size=3G"],
     [1 << 30, 2 << 30, 3 << 30]),
    ("offline", "offline = true", "MPACKFS_OFFLINE", "0", ["--offline"], [True, False, True]),
    ("timeout", "timeout = 5", "MPACKFS_TIMEOUT", "7.5", ["--timeout", "9"], [5, 7.5, 9]),
    ("log_level", "log_level = info", "MPACKFS_LOG_LEVEL", "debug", ["--log-level", "error"],
     ["info", "debug", "error"]),
]


@pytest.mark.parametrize("key,line,var,env_value,flag,values", PRECEDENCE,
                         ids=[p[0] for p in PRECEDENCE])
def test_precedence_per_key(mpack, cenv, key, line, var, env_value, flag, values):
    # an unrelated key in the file must keep its file origin whatever overrides `key`
    f = user_file(cenv)
    f.write_text(f"retries = 5\n{line}\n")
    other = ("retries", (5, f"{f}:1"))
    cfg = config_json(mpack, cenv)
    assert setting(cfg, key) == (values[0], f"{f}:2"), "file over default"
    env = dict(cenv, **{var: env_value})
    cfg = config_json(mpack, env)
    assert setting(cfg, key) == (values[1], f"env {var}"), "environment over file"
    assert setting(cfg, other[0]) == other[1]
    cfg = config_json(mpack, env, *flag)
    assert setting(cfg, key) == (values[2], f"flag {flag[0].split('=')[0]}"), "flag over env"
    assert setting(cfg, other[0]) == other[1]
    # the flag beats the file with no environment too
    assert setting(config_json(mpack, cenv, *flag), key)[0] == values[2]


def test_source_flags_replace_every_source(mpack, cenv):
    f = user_file(cenv)
    f.write_text("api = http://127.0.0.1:6001\ngateway = http://127.0.0.1:6002\n"
                 "offline = true\n")
    cfg = config_json(mpack, cenv, "--gateway", "http://127.0.0.1:6003")
    assert setting(cfg, "gateway") == (["http://127.0.0.1:6003"], "flag --gateway")
    assert setting(cfg, "api") == (None, "flag --gateway")
    assert setting(cfg, "offline") == (False, "flag --gateway")
    cfg = config_json(mpack, cenv, "--api", "http://127.0.0.1:6004", "--offline")
    assert setting(cfg, "api") == ("http://127.0.0.1:6004", "flag --api")
    assert setting(cfg, "gateway") == ([], "flag --api")
    assert setting(cfg, "offline") == (True, "flag --offline")
    # environment sources are per key: MPACKFS_GATEWAYS leaves the file's API alone
    cfg = config_json(mpack, dict(cenv, MPACKFS_GATEWAYS="http://127.0.0.1:6005"))
    assert setting(cfg, "api") == ("http://127.0.0.1:6001", f"{f}:1")
    assert setting(cfg, "offline") == (True, f"{f}:3")


def test_list_semantics(mpack, cenv):
    f = user_file(cenv)
    f.write_text("gateway = http://127.0.0.1:1\ngateway =\ngateway = http://127.0.0.1:2\n"
                 "gateway = http://127.0.0.1:3\ncar = /a.car\ncar = /b.car\n")
    cfg = config_json(mpack, cenv)
    assert setting(cfg, "gateway") == (["http://127.0.0.1:2", "http://127.0.0.1:3"], f"{f}:3")
    assert setting(cfg, "car")[0] == ["/a.car", "/b.car"]
    cfg = config_json(mpack, cenv, "--car", "c.car", "--car=d.car")
    assert setting(cfg, "car") == (["c.car", "d.car"], "flag --car")
    cfg = config_json(mpack, dict(cenv, MPACKFS_GATEWAYS="", MPACKFS_API=""))
    assert setting(cfg, "gateway") == ([], "env MPACKFS_GATEWAYS")
    assert setting(cfg, "api") == (None, "env MPACKFS_API")
    cfg = config_json(mpack, cenv, "--gateway", "")
    assert setting(cfg, "gateway") == ([], "flag --gateway")


def test_system_then_user_file(mpack, cenv):
    s, u = system_file(cenv), user_file(cenv)
    s.write_text("timeout = 3\nretries = 4\ngateway = http://127.0.0.1:5\n"
                 f"[aliases]\nx = {CID}\ny = {CID}\n")
    u.write_text(f"timeout = 9\ngateway = http://127.0.0.1:6\n[aliases]\ny = {CID2}\n")
    cfg = config_json(mpack, cenv)
    assert setting(cfg, "timeout") == (9, f"{u}:1")
    assert setting(cfg, "retries") == (4, "/etc/mpackfs.conf:2")
    assert setting(cfg, "gateway") == (["http://127.0.0.1:6"], f"{u}:2")
    assert cfg["aliases"]["x"] == {"cid": CID, "origin": "/etc/mpackfs.conf:5", "layer": "system"}
    assert cfg["aliases"]["y"] == {"cid": CID2, "origin": f"{u}:4", "layer": "user"}


def test_explicit_config_file(mpack, cenv, tmp_path):
    user_file(cenv).write_text("retries = 5\n")
    system_file(cenv).write_text("max_inflight = 3\n")
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    a.write_text("timeout = 4\n")
    b.write_text("timeout = 6\n")
    for args, env, want in [(["--config", a], cenv, (4, f"{a}:1")),
                            ([f"--config={a}"], dict(cenv, MPACKFS_CONFIG=str(b)), (4, f"{a}:1")),
                            ([], dict(cenv, MPACKFS_CONFIG=str(b)), (6, f"{b}:1"))]:
        cfg = config_json(mpack, env, *args)
        assert setting(cfg, "timeout") == want
        assert setting(cfg, "retries") == (2, "default"), "the user file is not read"
        assert setting(cfg, "max_inflight") == (32, "default"), "the system file is not read"
        assert [x["path"] for x in cfg["files"]] == [want[1].rsplit(":", 1)[0]]
    err = config_error(mpack, cenv, "--config", tmp_path / "missing.conf")
    assert f"{tmp_path}/missing.conf: No such file or directory" in err
    err = config_error(mpack, dict(cenv, MPACKFS_CONFIG=str(tmp_path / "gone.conf")))
    assert "gone.conf: No such file or directory" in err


BAD_LINES = [
    ("gatway = http://127.0.0.1:1", "unknown key 'gatway'"),
    ("timeout = soon", "timeout: 'soon' is not a number of seconds in (0, 86400]"),
    ("timeout = 0", "timeout: '0' is not a number of seconds"),
    ("connect_timeout = 90000", "connect_timeout: '90000' is not a number of seconds"),
    ("cache_size = 10Q", "cache_size: '10Q' is not a size"),
    ("cache_size = 0", "cache_size: '0' is not a size"),
    ("source_window = 0", "source_window: '0' is not a size"),
    ("offline = maybe", "offline: 'maybe' is not a boolean"),
    ("max_inflight = 0", "max_inflight: '0' is not an integer in [1, 256]"),
    ("retries = 1.5", "retries: '1.5' is not an integer in [0, 10]"),
    ("read_ahead_kb = -1", "read_ahead_kb: '-1' is not an integer"),
    ("log_level = loud", "log_level: 'loud' is not a log level"),
    ("gateway = ftp://x", "gateway: fetch: source URL 'ftp://x' must start with http://"),
    ("api = localhost:5001", "api: fetch: source URL 'localhost:5001'"),
    ("car = model.car", "car: 'model.car' is not an absolute path"),
    ("cache_dir =", "cache_dir: empty value"),
    ("just some words", "expected 'key = value'"),
    ("= 3", "missing key before '='"),
    ("[settings]", "unknown section '[settings]'"),
    ("[aliases", "missing ']'"),
    ('api = "http://127.0.0.1:1', "missing closing '\"'"),
    ('api = "http://127.0.0.1:1" x', "text after the closing"),
    ("x" * 5000, "line longer than 4095 bytes"),
    ("timeout = 1\0", "NUL byte"),
]


@pytest.mark.parametrize("line,message", BAD_LINES, ids=range(len(BAD_LINES)))
def test_errors_name_file_and_line(mpack, cenv, tmp_path, line, message):
    f = tmp_path / "bad.conf"
    f.write_bytes(f"# good\nretries = 3\n{line}\nretries = 4\n".encode())
    err = config_error(mpack, cenv, "--config", f)
    assert f"{f}:3: {message}" in err, err
    # the same in the user file, and even when a flag overrides the key
    user_file(cenv).write_bytes(f.read_bytes())
    err = config_error(mpack, cenv, "--timeout", "1", "--api", "http://127.0.0.1:1")
    assert f"{user_file(cenv)}:3: {message}" in err, err


BAD_ALIASES = [
    (f"bad/name = {CID}", "alias name 'bad/name' contains '/'"),
    (f". = {CID}", "alias name '.' is reserved"),
    (f".. = {CID}", "alias name '..' is reserved"),
    (f".mpackfs = {CID}", "alias name '.mpackfs' is reserved"),
    (f"{CID2} = {CID}", f"alias name '{CID2}' is a CID"),
    ("x" * 256 + f" = {CID}", "alias name longer than 255 bytes"),
    ("llama = not-a-cid", "alias 'llama': "),
    ("llama =", "alias 'llama': "),
]


@pytest.mark.parametrize("line,message", BAD_ALIASES, ids=range(len(BAD_ALIASES)))
def test_alias_errors(mpack, cenv, tmp_path, line, message):
    f = tmp_path / "bad.conf"
    f.write_text(f"timeout = 5\n[aliases]\n{line}\n")
    err = config_error(mpack, cenv, "--config", f)
    assert f"{f}:3: alias: {message}" in err, err


def test_alias_name_limits(mpack, cenv, tmp_path):
    f = tmp_path / "ok.conf"
    name = "n" * 255
    f.write_text(f"[aliases]\n{name} = {CID}\nllama 3 (8B) = {CID2}\n")
    cfg = config_json(mpack, cenv, "--config", f)
    assert cfg["aliases"][name]["cid"] == CID
    assert cfg["aliases"]["llama 3 (8B)"]["cid"] == CID2


@pytest.mark.parametrize("var,value,message", [
    ("MPACKFS_TIMEOUT", "soon", "MPACKFS_TIMEOUT: 'soon' is not a number of seconds"),
    ("MPACKFS_CACHE_SIZE", "big", "MPACKFS_CACHE_SIZE: 'big' is not a size"),
    ("MPACKFS_OFFLINE", "maybe", "MPACKFS_OFFLINE: 'maybe' is not a boolean"),
    ("MPACKFS_LOG_LEVEL", "loud", "MPACKFS_LOG_LEVEL: 'loud' is not a log level"),
    ("MPACKFS_GATEWAYS", "http://ok.example,ftp://x", "MPACKFS_GATEWAYS: fetch: source URL 'ftp://x'"),
    ("MPACKFS_API", "nope", "MPACKFS_API: fetch: source URL 'nope'"),
])
def test_environment_errors(mpack, cenv, var, value, message):
    err = config_error(mpack, dict(cenv, **{var: value}))
    assert message in err, err


def test_flag_errors(mpack, cenv):
    assert "--timeout: '-1' is not a number of seconds" in config_error(mpack, cenv, "--timeout",
                                                                        "-1")
    assert "--max-inflight: '999' is not an integer in [1, 256]" in config_error(
        mpack, cenv, "--max-inflight", "999")
    assert "--source-window: '8Q' is not a size" in config_error(mpack, cenv, "--source-window",
                                                                 "8Q")
    assert "--offline takes no value" in config_error(mpack, cenv, "--offline=yes")
    assert "--config needs a value" in config_error(mpack, cenv, "--config")
    assert "unexpected argument 'bogus'" in config_error(mpack, cenv, "bogus")


def test_text_output_is_a_config_file(mpack, cenv, tmp_path):
    user_file(cenv).write_text(f"gateway = http://127.0.0.1:1\ncar = /x.car\nretries = 7\n"
                               f"[aliases]\nllama = {CID}\n")
    env = dict(cenv, MPACKFS_TIMEOUT="3.5", MPACKFS_API="")
    args = ["--cache-size", "512M", "--offline"]
    p = run_config(mpack, env, *args)
    assert p.returncode == 0, p.stderr
    assert f"retries = 7" in p.stdout and f"# {user_file(cenv)}:3" in p.stdout
    assert "# env MPACKFS_TIMEOUT" in p.stdout and "# flag --cache-size" in p.stdout
    want = config_json(mpack, env, *args)
    out = tmp_path / "out.conf"
    out.write_text(p.stdout)
    got = config_json(mpack, cenv, "--config", out)
    for key in SETTINGS:
        assert got["settings"][key]["value"] == want["settings"][key]["value"], key
    assert {k: v["cid"] for k, v in got["aliases"].items()} == {"llama": CID}


# ---- the mount ----

@pytest.fixture(scope="module")
def pack(mpack, tmp_path_factory):
    """A small model packed into a CAR: {"m": manifest CID, "dir": directory CID, "car",
    "files": {name: bytes}}."""
    work = tmp_path_factory.mktemp("cfgpack")
    src = work / "tiny-model"
    src.mkdir()
    rnd = random.Random(7)
    files = {"config.json": b'{"model_type": "tiny"}\n', "README.md": b"# tiny\n",
             "model.safetensors": bytes(rnd.getrandbits(8) for _ in range(2_500_000))}
    for name, data in files.items():
        (src / name).write_bytes(data)
    car = work / "tiny.car"
    p = subprocess.run([mpack, "pack", src, "--car", car, "--out", work / "MODEL_PACK.json",
                        "--json"], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, SOURCE_DATE_EPOCH="1700000000"))
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    return {"m": res["manifest_cid"], "dir": res["directory_cid"], "car": str(car),
            "files": files}


def mountinfo(mp):
    """(fstype, super options) of the mount at mp, or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[4] == str(mp):
                i = parts.index("-")
                return parts[i + 1], parts[i + 3]
    return None


class Foreground:
    """mpackfs -f ARGS MP; stop() unmounts and returns (exit status, stderr)."""

    def __init__(self, mpackfs, mp, args, env, log):
        self.mp, self.log = str(mp), log
        os.makedirs(self.mp, exist_ok=True)
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([mpackfs, "-f", *map(str, args), self.mp], env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True)

    def wait_mounted(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if (mountinfo(self.mp) or ("",))[0] == "fuse.mpackfs":
                return self
            if self.proc.poll() is not None:
                pytest.fail(f"mpackfs exited {self.proc.returncode}: {self.text()}")
            time.sleep(0.02)
        pytest.fail(f"not mounted after 10 s: {self.text()}")

    def text(self):
        return pathlib.Path(self.log).read_text(errors="replace")

    def stop(self):
        if mountinfo(self.mp):
            if subprocess.run(["fusermount3", "-u", self.mp], capture_output=True).returncode:
                subprocess.run(["fusermount3", "-uz", self.mp], capture_output=True)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        return rc, self.text()


@pytest.fixture
def fg(mpackfs, tmp_path):
    made = []

    def start(args, env, wait=True):
        m = Foreground(mpackfs, tmp_path / f"mp{len(made)}", args, env,
                       tmp_path / f"mpackfs{len(made)}.log")
        made.append(m)
        return m.wait_mounted() if wait else m

    yield start
    for m in made:
        m.stop()


def stats(mp):
    with open(os.path.join(mp, ".mpackfs", "stats")) as f:
        return json.load(f)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def write_mount_config(cenv, pack, tmp_path, extra=""):
    f = user_file(cenv)
    f.write_text(f"offline = true\napi =\ngateway = http://127.0.0.1:9\ncar = {pack['car']}\n"
                 f"cache_dir = {tmp_path / 'cache'}\ncache_size = 64M\n{extra}"
                 f"[aliases]\nllama = {pack['m']}\ntree = {pack['dir']}\n")
    return f


def test_mount_uses_file_and_aliases(fg, cenv, pack, tmp_path):
    write_mount_config(cenv, pack, tmp_path)
    m = fg([], cenv)
    st = stats(m.mp)
    assert st["sources"] == [], "offline = true from the file: no network source"
    assert st["cache"]["max_bytes"] == 64 << 20, "cache_size from the file"
    root = os.listdir(m.mp)
    assert "llama" in root and "tree" in root, root
    for name, cid in [("llama", pack["m"]), ("tree", pack["dir"])]:
        path = os.path.join(m.mp, name)
        assert os.path.islink(path) and os.readlink(path) == cid
        assert os.path.realpath(path) == os.path.join(m.mp, cid)
    for name, data in pack["files"].items():
        with open(os.path.join(m.mp, "llama", name), "rb") as f:
            assert sha(f.read()) == sha(data), name
        with open(os.path.join(m.mp, "tree", name), "rb") as f:
            assert sha(f.read()) == sha(data), name
    assert "MODEL_PACK.json" in os.listdir(os.path.join(m.mp, "llama"))
    rc, log = m.stop()
    assert rc == 0, log


def test_mount_env_and_flags_override_file(fg, cenv, pack, tmp_path):
    write_mount_config(cenv, pack, tmp_path)
    m = fg([], dict(cenv, MPACKFS_OFFLINE="false", MPACKFS_CACHE_SIZE="32M"))
    st = stats(m.mp)
    assert [s["url"] for s in st["sources"]] == ["http://127.0.0.1:9"], "env wins over file"
    assert st["sources"][0]["slots"] == 24, "8 MiB at 256 KiB blocks, capped by max_per_source"
    assert st["cache"]["max_bytes"] == 32 << 20
    m.stop()
    m = fg(["-o", f"offline,cache_size=16M,alias=llama={pack['dir']}"],
           dict(cenv, MPACKFS_OFFLINE="false", MPACKFS_CACHE_SIZE="32M"))
    st = stats(m.mp)
    assert st["sources"] == [] and st["cache"]["max_bytes"] == 16 << 20, "-o wins over env"
    assert os.readlink(os.path.join(m.mp, "llama")) == pack["dir"], "-o alias wins over file"
    assert os.readlink(os.path.join(m.mp, "tree")) == pack["dir"]
    m.stop()
    m = fg(["--gateway", "http://127.0.0.1:8", "--alias", f"extra={pack['m']}",
            "--source-window", "1M", "--max-per-source", "6"], cenv)
    st = stats(m.mp)
    assert [s["url"] for s in st["sources"]] == ["http://127.0.0.1:8"], \
        "a --gateway replaces the file's sources and implies online"
    assert st["sources"][0]["slots"] == 4, "1 MiB at 256 KiB blocks"
    with open(os.path.join(m.mp, "extra", "README.md"), "rb") as f:
        assert f.read() == pack["files"]["README.md"], "blocks still come from the file's CAR"


def test_mount_log_level_from_file(fg, cenv, pack, tmp_path):
    write_mount_config(cenv, pack, tmp_path, extra="log_level = info\n")
    m = fg([], cenv)
    rc, log = m.stop()
    assert rc == 0 and " mpackfs info: mounted on " + m.mp in log, log
    write_mount_config(cenv, pack, tmp_path)
    m = fg(["--log-level", "warn"], dict(cenv, MPACKFS_LOG_LEVEL="info"))
    rc, log = m.stop()
    assert rc == 0 and "mounted on" not in log, "the flag wins over the environment: " + log


def test_mount_config_errors_exit_2(mpackfs, cenv, pack, tmp_path):
    f = user_file(cenv)
    mp = tmp_path / "mp"
    mp.mkdir()
    cases = [("offline = true\ntimout = 5\n", [], f"mpackfs: {f}:2: unknown key 'timout'"),
             ("[aliases]\n.. = " + pack["m"] + "\n", [], f"{f}:2: alias: alias name '..'"),
             ("", ["-o", "timeout=zz"], "-o timeout: 'zz' is not a number of seconds"),
             ("", ["--alias", "a/b=" + pack["m"]], "--alias: alias name 'a/b' contains '/'"),
             ("", ["--config", tmp_path / "nope.conf"], "nope.conf: No such file or directory"),
             ("", ["-o", f"config={tmp_path / 'nope.conf'}"], "nope.conf: No such file"),
             ("", [], "MPACKFS_TIMEOUT: 'x' is not a number")]
    for text, args, message in cases:
        f.write_text(text)
        env = dict(cenv, MPACKFS_TIMEOUT="x") if "MPACKFS_TIMEOUT" in message else cenv
        p = subprocess.run([mpackfs, "-f", *map(str, args), mp], env=env, capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 2 and message in p.stderr, (args, p.returncode, p.stderr)
        assert mountinfo(mp) is None
