"""The viewflow side of the peer benchmark, run by ``benchmarks/peer.py`` in the peer's own venv.

``benchmarks/peer/.venv/bin/python benchmarks/peer/worker.py DATABASE INSTANCES``: stores ``INSTANCES``
processes of ``PeerFlow`` (each waiting at step 1, as Kaohe's region instances wait at their first user task),
prints one JSON line (bytes per instance), then answers one JSON request per line on stdin:
``{"act": n}`` completes step 1 of ``n`` more processes as viewflow's task view does it and answers the
durations; ``{"serve": n}`` serves the app with waitress on a free port and answers the port, the URLs of ``n``
more step-1 tasks and the cookies and header a signed-in browser would send. DATABASE is a SQLite file
path or a ``postgresql://`` URL with ``?schema=NAME``.
"""

from __future__ import annotations

import json
import random
import socket
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
BATCH = 500


def configure(database: str) -> None:
    """Django settings for one database, the same durability settings as Kaohe's store."""
    from django.conf import settings

    if database.startswith("postgresql"):
        url = urlparse(database)
        db = {"ENGINE": "django.db.backends.postgresql", "NAME": url.path.lstrip("/"), "USER": url.username,
              "PASSWORD": url.password or "", "HOST": url.hostname, "PORT": url.port or 5432,
              "OPTIONS": {"options": f"-c search_path={parse_qs(url.query)['schema'][0]}"}}
    else:  # WAL, synchronous NORMAL and BEGIN IMMEDIATE, as engine/store/db.py sets up SQLite
        db = {"ENGINE": "django.db.backends.sqlite3", "NAME": database,
              "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
                          "transaction_mode": "IMMEDIATE", "timeout": 10}}
    settings.configure(
        DEBUG=False, SECRET_KEY="peer-bench", ALLOWED_HOSTS=["127.0.0.1", "testserver"], USE_TZ=True,
        DATABASES={"default": db}, ROOT_URLCONF="peerflow.urls", DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
                        "django.contrib.messages", "viewflow", "viewflow.workflow", "peerflow"],
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                    "django.middleware.common.CommonMiddleware", "django.middleware.csrf.CsrfViewMiddleware",
                    "django.contrib.auth.middleware.AuthenticationMiddleware",
                    "django.contrib.messages.middleware.MessageMiddleware"],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
    )
    import django

    django.setup()


def database_bytes() -> int:
    """The database's size: SQLite's pages in use, or every relation of the schema (tables, indexes, TOAST)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT (SELECT page_count FROM pragma_page_count()) - "
                           "(SELECT freelist_count FROM pragma_freelist_count())")
            pages = cursor.fetchone()[0]
            cursor.execute("PRAGMA page_size")
            return pages * cursor.fetchone()[0]
        cursor.execute("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                       "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'")
        return int(cursor.fetchone()[0])


def fill(instances: int) -> tuple[list, int]:
    """Start ``instances`` processes; return their step-1 tasks, shuffled, and the bytes they added."""
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection, transaction
    from peerflow.flows import USER, PeerFlow

    call_command("migrate", verbosity=0)
    User.objects.create_user(USER, password="bench")
    before = database_bytes()
    for start in range(0, instances, BATCH):
        with transaction.atomic():
            for _ in range(min(BATCH, instances - start)):
                PeerFlow.start.run()
    added = database_bytes() - before
    if connection.vendor == "postgresql":  # as Kaohe's fill does: what autovacuum would have done by now
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    tasks = list(PeerFlow.task_class.objects.filter(flow_task=PeerFlow.step1).values_list("process_id", "id"))
    if len(tasks) != instances:
        raise RuntimeError(f"expected {instances} step-1 tasks, found {len(tasks)}")
    random.Random(1).shuffle(tasks)
    return tasks, added


def form_data(step: int = 1) -> dict[str, str]:
    from peerflow.models import field_names

    return {name: f"{95 + n / 100:.2f}" for n, name in enumerate(field_names(step))}


def execute_url(process_id: int, task_id: int) -> str:
    """The URL of a step-1 task's form (peerflow/urls.py: FlowViewset under /flow/)."""
    return f"/flow/{process_id}/step1/{task_id}/execute/"


def act(tasks: list, n: int) -> list[float]:
    """Complete step 1 of ``n`` processes through viewflow's own view function, as a POST would reach it."""
    from django.contrib.auth.models import User
    from django.test import RequestFactory
    from django.urls import resolve
    from peerflow.flows import USER, PeerFlow

    user, factory, data = User.objects.get(username=USER), RequestFactory(), form_data()
    durations = []
    for process_id, task_id in (tasks.pop() for _ in range(n)):
        start = time.perf_counter()
        url = execute_url(process_id, task_id)
        request = factory.post(url, data)
        request.user, request.resolver_match = user, resolve(url)
        request._dont_enforce_csrf_checks = True
        response = request.resolver_match.func(request, *request.resolver_match.args, **request.resolver_match.kwargs)
        durations.append(time.perf_counter() - start)
        if response.status_code != 302:
            raise RuntimeError(f"viewflow answered {response.status_code} for task {task_id}")
    if not PeerFlow.task_class.objects.filter(process_id=process_id, flow_task=PeerFlow.step2).exists():
        raise RuntimeError(f"process {process_id} did not reach step 2")
    return durations


def serve(tasks: list, n: int) -> dict:
    """waitress (8 threads, as ``kaohe serve``) in a thread; the requests a signed-in browser would send."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.wsgi import get_wsgi_application
    from peerflow.flows import USER
    from waitress.server import create_server

    user, session = User.objects.get(username=USER), SessionStore()
    session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash()})
    session.save()
    csrf = "peerbenchcsrftoken".ljust(32, "x")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = create_server(get_wsgi_application(), host="127.0.0.1", port=port, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    return {"port": port, "urls": [execute_url(*tasks.pop()) for _ in range(n)],
            "headers": {"Cookie": f"sessionid={session.session_key}; csrftoken={csrf}", "X-CSRFToken": csrf},
            "body": form_data()}


def main() -> None:
    database, instances = sys.argv[1], int(sys.argv[2])
    configure(database)
    tasks, added = fill(instances)
    answer({"bytes_per_instance": added / instances, "django": version("Django"),
            "viewflow": version("django-viewflow")})
    for line in sys.stdin:
        request = json.loads(line)
        if "act" in request:
            answer({"durations": act(tasks, request["act"])})
        elif "serve" in request:
            answer(serve(tasks, request["serve"]))


def answer(value: dict) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
