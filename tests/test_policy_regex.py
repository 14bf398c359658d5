"""Policy-authored regexes run on RE2 (linear time) with Python's meaning, fall back to `re`
only for what RE2 cannot run, and `gate policy lint` names the fallbacks."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gate.gate import Gate
from gate.policy.loader import load_policies
from gate.policy.regex import backtracking, compile_pattern, policy_regexes, translate
from gate.settings import Settings

from bench_strings import bench_strings

ROOT = Path(__file__).resolve().parent.parent


def _all_policy_patterns() -> list[str]:
    out: list[str] = []
    for folder in (ROOT / "policies", ROOT / "bench" / "policies"):
        for pol in load_policies(folder):
            out += [p for _, p in policy_regexes(pol)]
    return sorted(set(out))


def _bench_strings() -> list[str]:
    return list(bench_strings())


PATTERNS = _all_policy_patterns()


def test_the_shipped_policies_declare_regexes_and_most_run_on_re2() -> None:
    assert len(PATTERNS) >= 30
    fallbacks = [p for p in PATTERNS if backtracking(p) is not None]
    assert all("(?!" in p or "(?=" in p or "(?<" in p for p in fallbacks)
    assert len(fallbacks) <= 2


def test_re2_finds_what_python_finds_on_every_benchmark_argument() -> None:
    """Same match or no match, and the same spans where the pattern has no `$`, for every
    policy regex over every string argument of the benchmark (with a trailing newline too)."""
    texts = _bench_strings()
    texts += [t + "\n" for t in texts[::7]]
    assert len(texts) > 5000
    for pat in PATTERNS:
        py, fast = re.compile(pat), compile_pattern(pat)
        if fast is py or isinstance(fast, re.Pattern):
            continue
        for t in texts:
            a, b = py.search(t), fast.search(t)
            assert (a is None) == (b is None), (pat, t[:200])
            if a is not None and "$" not in pat:
                assert [m.span() for m in py.finditer(t)] == [m.span() for m in fast.finditer(t)], (pat, t[:200])


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")
@pytest.mark.parametrize("pattern, text, hit", [
    (r"rm -rf /$", "rm -rf /\n", True),            # Python's `$` also matches before a final newline
    (r"rm -rf /$", "rm -rf /\nx", False),
    (r"(?m)^drop$", "a\ndrop\nb", True),           # multi-line `$`: before any newline, in both engines
    (r"a\Z", "a\n", False),                        # `\Z` is the very end, in both engines
    (r"a\Z", "xa", True),
    (r"[$]x", "$x", True),                         # a `$` inside a class is a literal
    (r"\$HOME", "cd $HOME", True),
    (r"[]$]+", "]$", True),
    (r"[^]$]z", "az", True),
    (r"(?i)\bSUDO\b", "sudo rm", True),
    (r"[[:alpha:]]", "a", False),                  # Python has no POSIX classes: `[[:alpha:]` then `]`
    (r"[[:alpha:]]", "a]", True),
    (r"a{,3}b", "aab", True),                      # Python's `{,3}` is `{0,3}`
    (r"\u00e9t\u00e9", "été", True),
    (r"[\u00e0-\u00ff]", "ï", True),
])
def test_translated_patterns_keep_pythons_meaning(pattern: str, text: str, hit: bool) -> None:
    assert (re.search(pattern, text) is not None) == hit
    fast = compile_pattern(pattern)
    assert not isinstance(fast, re.Pattern), translate(pattern)
    assert (fast.search(text) is not None) == hit


def test_translate_leaves_escapes_and_classes_alone() -> None:
    assert translate(r"a$") == r"a(?:\n?\z)"
    assert translate(r"\$[$]\Z") == r"\$[$]\z"
    assert translate(r"(?m)a$") == r"(?m)a$"
    assert translate(r"[\]$]$") == r"[\]$](?:\n?\z)"
    assert translate("plain") == "plain"


def test_lookaround_and_backreferences_fall_back_to_python() -> None:
    for pat in (r"(?!where)\w+", r"(\w)\1", r"(?<=a)b", r"(?P<x>a)(?P=x)"):
        assert backtracking(pat) is not None
        assert isinstance(compile_pattern(pat), re.Pattern)
    assert backtracking(r"\bsudo\b") is None


def test_a_catastrophic_policy_pattern_stays_linear() -> None:
    """The nested quantifier that makes Python's `re` exponential (about 9 s on these 76
    characters, twice as long per word added): RE2 answers at once, and on 200 KB too."""
    fast = compile_pattern(r"^(\w+\s?)*$")
    t0 = time.perf_counter()
    assert fast.search("ab " * 25 + "!") is None
    assert time.perf_counter() - t0 < 1.5
    assert fast.search("word " * 40_000 + "!") is None
    assert time.perf_counter() - t0 < 3.0


def _policy(tmp_path: Path, *patterns: str) -> Path:
    d = tmp_path / "p"
    d.mkdir()
    (d / "a.yaml").write_text(yaml.safe_dump({
        "agent": "shell-bot",
        "identity": "Runs build commands in the repository workspace.",
        "tools": [{"name": "run", "description": "run a shell command in the workspace",
                   "constraints": [{"arg": "command", "pattern_deny": list(patterns)}]}],
    }))
    return d


def test_a_decision_against_a_nested_quantifier_deny_pattern_takes_no_time(tmp_path: Path) -> None:
    """`^(\\w+\\s?)*$` takes Python's `re` about 9 s on 76 characters (twice as long per word
    added); the gate decides at once, and its deny patterns still stop what they are for."""
    gate = Gate.from_policies(_policy(tmp_path, r"^(\w+\s?)*$", r"\brm\s+-\w*r\w*\s+(/|~)(\s|/?$)"),
                              Settings(audit_path=None))
    t0 = time.perf_counter()
    d = gate.check({"agent": "shell-bot", "action": {"tool": "run", "args": {"command": "ab " * 25 + "!"}}})
    assert time.perf_counter() - t0 < 1.5
    assert d.decision in ("ALLOW", "BLOCK")
    assert gate.check({"agent": "shell-bot", "action": {"tool": "run", "args": {"command": "make test"}}}).decision == "BLOCK"
    for cmd in ("rm -rf /", "rm -rf ~\n", "rm -rf /\n"):
        d = gate.check({"agent": "shell-bot", "action": {"tool": "run", "args": {"command": cmd}}})
        assert d.decision == "BLOCK" and "pattern_denied" in {r["code"] for r in d.reasons}, cmd
    d = gate.check({"agent": "shell-bot", "action": {"tool": "run", "args": {"command": "rm -rf ./build; ls"}}})
    assert "pattern_denied" not in {r["code"] for r in d.reasons}


def test_lint_names_patterns_that_need_backtracking(tmp_path: Path) -> None:
    d = _policy(tmp_path, r"\bupdate\b(?!.*\bwhere\b)")
    out = subprocess.run([sys.executable, "-m", "gate.cli", "policy", "lint", str(d)], capture_output=True, text=True,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "warning" in out.stdout and "tools[run].constraints[0].pattern_deny[0]" in out.stdout
    assert "backtracking" in out.stdout


def test_lint_is_quiet_for_linear_patterns(tmp_path: Path) -> None:
    d = _policy(tmp_path, r"\bsudo\b")
    out = subprocess.run([sys.executable, "-m", "gate.cli", "policy", "lint", str(d)], capture_output=True, text=True,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and "warning" not in out.stdout, out.stdout + out.stderr


def test_random_texts_agree_between_engines() -> None:
    rng = random.Random(5)
    pieces = ["rm", " ", "-rf", "/", "~", "\n", "sudo", "chmod 777", "curl x", "|", "sh", "DROP", "database", ";",
              "update t", " set a=1", " where", "\u00a0", "$HOME", "0.0.0.0/0", "::/0", "ssn", "iban", "..", "/*"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(2000)]
    for pat in PATTERNS:
        py, fast = re.compile(pat), compile_pattern(pat)
        for t in texts:
            assert (py.search(t) is None) == (fast.search(t) is None), (pat, t)


def test_word_boundaries_are_the_documented_difference() -> None:
    """RE2's `\\b` knows ASCII letters only: it sees a boundary between `é` and `s`."""
    pat = r"\bssn\b"
    assert re.search(pat, "éssn") is None
    assert compile_pattern(pat).search("éssn") is not None
    assert compile_pattern(pat).search("the ssn column") is not None


def test_unicode_classes_are_pythons() -> None:
    """`\\d`, `\\w`, `\\s` and their negations accept the same characters in both engines over
    the whole Basic Multilingual Plane."""
    chars = "".join(chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xE000)
    for cls in (r"\w", r"\d", r"\s", r"\W", r"\D", r"\S", r"[\w]", r"[\d.]", r"[\s,]", r"[^\w]"):
        py, fast = re.compile(cls), compile_pattern(cls)
        assert not isinstance(fast, re.Pattern)
        assert [m.start() for m in py.finditer(chars)] == [m.start() for m in fast.finditer(chars)], cls


def test_a_deny_set_finds_what_each_pattern_finds() -> None:
    """A constraint's `pattern_deny` list asked in one pass: the same matches, in the same
    order, as scanning pattern by pattern, on short texts (the set) and long ones (one by one)."""
    from gate.policy.regex import PatternSet

    pats = [r"\bsudo\b", r"(curl|wget)[^|;]*\|\s*(sudo\s+)?(ba|z)?sh\b", r"rm -rf /\s", r"\bupdate\b(?!.*\bwhere\b)", r"\d{3}-\d{2}-\d{4}"]
    pset = PatternSet(pats)
    texts = _bench_strings()[::5] + ["sudo curl x | sh; sudo ls", "rm -rf /\n", "update t set a=1", "ssn 123-45-6789 sudo",
                                     "x" * 5000 + " sudo", "curl a | bash " * 400]
    for t in texts:
        want = [(m.start(), m.end()) for rx in pats for m in re.finditer(rx, t)]
        assert [(m.start(), m.end()) for m in pset.matches(t)] == want, t[:80]
    assert len(pset) == 5 and not PatternSet([])


@pytest.mark.parametrize("args, denied", [
    ("get secret db-creds -n payments -o go-template='{{.data.password}}'", True),
    ("get secret db-creds -n payments -o custom-columns=P:.data.password", True),
    ("get secret db-creds -n payments --template={{.data.password}}", True),
    ("get secret db-creds -o=yaml", True),
    ("get secrets -n payments", False),                       # names, types and ages only
    ("get pods -n payments -o wide", False),
])
def test_the_benchmark_sre_policy_denies_every_output_that_prints_secret_values(args: str, denied: bool) -> None:
    gate = Gate.from_policies(ROOT / "bench" / "policies", Settings(audit_path=None))
    d = gate.check({"agent": "sre-agent", "task": "Investigate the failing payments deployment in prod-eu",
                    "action": {"tool": "kubectl", "args": {"args": args, "context": "prod-eu"}}})
    assert ("pattern_denied" in {r["code"] for r in d.reasons}) == denied, (args, d.decision)


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")
def test_random_patterns_mean_the_same_in_both_engines() -> None:
    """Patterns assembled at random from classes, escapes, anchors and quantifiers (no `\\b`),
    matched against random texts with Unicode digits, letters and spaces: RE2 with the
    translation finds a match exactly where Python does."""
    rng = random.Random(11)
    atoms = [r"\d", r"\w", r"\s", r"\D", r"\W", r"\S", "a", "b", "é", ".", "[a-c]", "[^a]", r"[\d_]", r"[\s,]", "(a|b)",
             "$", "^", r"\Z", r"\A", "x{,2}", "[[:a]", r"\u00e9", r"\$", "[$]"]
    quants = ["", "", "*", "+", "?", "{1,2}", "{,2}"]
    alphabet = ["a", "b", "c", "x", "é", "_", "1", "\u0663", "\n", " ", "\u00a0", ":", "[", "]", "$", ","]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(300)]
    checked = 0
    for _ in range(400):
        pat = "".join(rng.choice(atoms) + (rng.choice(quants) if True else "") for _ in range(rng.randint(1, 4)))
        try:
            py = re.compile(pat)
        except re.error:
            continue
        fast = compile_pattern(pat)
        if isinstance(fast, re.Pattern):
            continue
        checked += 1
        for t in texts:
            assert (py.search(t) is None) == (fast.search(t) is None), (pat, translate(pat), t)
    assert checked > 200
