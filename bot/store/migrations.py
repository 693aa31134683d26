"""Versioned schema migrations; each entry runs once, in order, inside one transaction."""

MIGRATIONS: list[str] = [
    # 1: the foundation schema.
    """
    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY,
        forge TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        event TEXT NOT NULL,
        event_type TEXT,
        body BLOB NOT NULL,
        received_at REAL NOT NULL,
        processed_at REAL,
        outcome TEXT,
        error TEXT,
        UNIQUE (forge, delivery_id)
    );
    CREATE INDEX inbox_unprocessed ON inbox (processed_at) WHERE processed_at IS NULL;

    CREATE TABLE comment_actions (
        forge TEXT NOT NULL,
        comment_kind TEXT NOT NULL,
        comment_id INTEGER NOT NULL,
        action TEXT NOT NULL,
        body_hash TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        seen_at REAL NOT NULL,
        PRIMARY KEY (forge, comment_kind, comment_id, action, body_hash)
    );

    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        forge TEXT NOT NULL,
        repo TEXT NOT NULL,
        number INTEGER NOT NULL,
        is_pull_request INTEGER NOT NULL DEFAULT 0,
        agent TEXT NOT NULL,
        model TEXT,
        template TEXT NOT NULL DEFAULT 'coding',
        options TEXT NOT NULL DEFAULT '{}',
        trigger TEXT NOT NULL,
        actor TEXT NOT NULL,
        task TEXT NOT NULL DEFAULT '',
        instructions TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'queued',
        reason TEXT,
        question TEXT,
        answer TEXT,
        exit_code INTEGER,
        workspace_path TEXT,
        branch TEXT,
        base_branch TEXT,
        base_sha TEXT,
        pr_url TEXT,
        runtime TEXT,
        container_name TEXT,
        pid INTEGER,
        handle TEXT,
        timeout_minutes INTEGER,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        status_comment_id INTEGER,
        trigger_comment_id INTEGER,
        trigger_comment_kind TEXT,
        command_line TEXT,
        delivery_id TEXT,
        resumed_from INTEGER REFERENCES runs (id),
        clone_url TEXT,
        CHECK (state IN ('queued', 'running', 'completed', 'blocked', 'failed', 'cancelled'))
    );
    CREATE INDEX runs_by_issue ON runs (forge, repo, number, id);
    CREATE INDEX runs_by_state ON runs (state, id);

    CREATE TABLE label_snapshots (
        forge TEXT NOT NULL,
        repo TEXT NOT NULL,
        number INTEGER NOT NULL,
        labels TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (forge, repo, number)
    );

    CREATE TABLE pool_backoff (
        pool TEXT PRIMARY KEY,
        failure_count INTEGER NOT NULL DEFAULT 0,
        paused_until REAL,
        updated_at REAL NOT NULL
    );

    CREATE TABLE flags (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 2: forge feedback — time tracking mode, delivery results, and the outbox of forge writes
    # that must survive a forge outage or a restart.
    """
    ALTER TABLE runs ADD COLUMN timing TEXT;
    ALTER TABLE runs ADD COLUMN state_label TEXT;
    ALTER TABLE runs ADD COLUMN qa_report TEXT;
    ALTER TABLE runs ADD COLUMN diff_stat TEXT;
    ALTER TABLE runs ADD COLUMN pushed_branch TEXT;
    ALTER TABLE runs ADD COLUMN final_message TEXT;

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs (id),
        forge TEXT NOT NULL,
        operation TEXT NOT NULL,
        dedupe_key TEXT UNIQUE,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX outbox_due ON outbox (next_attempt_at);
    """,
    # 3: a delivery's processing outcome moves to its own small table. Recording it used to
    # rewrite the whole inbox row, body included; the body is now the row's last column, so the
    # fields before it are read without its overflow pages.
    """
    CREATE TABLE inbox_outcomes (
        inbox_id INTEGER PRIMARY KEY,
        processed_at REAL NOT NULL,
        outcome TEXT NOT NULL,
        error TEXT
    );
    INSERT INTO inbox_outcomes (inbox_id, processed_at, outcome, error)
        SELECT id, processed_at, COALESCE(outcome, 'unknown'), error FROM inbox
        WHERE processed_at IS NOT NULL;

    CREATE TABLE inbox_v3 (
        id INTEGER PRIMARY KEY,
        forge TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        event TEXT NOT NULL,
        event_type TEXT,
        received_at REAL NOT NULL,
        body BLOB NOT NULL,
        UNIQUE (forge, delivery_id)
    );
    INSERT INTO inbox_v3 (id, forge, delivery_id, event, event_type, received_at, body)
        SELECT id, forge, delivery_id, event, event_type, received_at, body FROM inbox;
    DROP TABLE inbox;
    ALTER TABLE inbox_v3 RENAME TO inbox;

    -- A deleted delivery takes its outcome with it (row ids may be reused).
    CREATE TRIGGER inbox_deleted AFTER DELETE ON inbox BEGIN
        DELETE FROM inbox_outcomes WHERE inbox_id = old.id;
    END;
    """,
]
