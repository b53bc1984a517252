"""Settings shared by the benchmark scripts: paths, table sizes, and the environment of the servers."""

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_DB = DATA_DIR / "bench.db"
SMALL_DB = DATA_DIR / "bench-0.1.db"

# Row counts at --scale 1.
USERS = 100_000
LESSONS = 10_000
PURCHASES = 200_000

# Only for the benchmark's throwaway database (48 characters, so the app does not call it insecure).
SECRET_KEY = "bench-secret-key-0123456789abcdef-0123456789abcd"  # noqa: S105
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "bench-admin-password-not-a-default"  # noqa: S105 (throwaway bench database)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def server_env(db_path: Path) -> dict[str, str]:
    """Environment variables for the real app (the baseline reads DATABASE_URL and SECRET_KEY too)."""
    return {
        "DATABASE_URL": sqlite_url(db_path),
        "ENVIRONMENT": "development",
        "SECRET_KEY": SECRET_KEY,
        "ADMIN_USERNAME": ADMIN_USERNAME,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "LOG_LEVEL": "WARNING",
        "SQL_ECHO": "false",
        "CORS_ORIGINS": "[]",
    }
