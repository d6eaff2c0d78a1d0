-- Accounts of the issue browser (SQLite). Same logical schema as
-- migrations/postgres/0003_accounts.sql. Never edit once released.

-- Users sign in with e-mail (stored lowercased) and password (argon2 PHC string).
create table users (
    user_id integer primary key autoincrement,
    email text not null unique,
    password_hash text not null,
    is_admin boolean not null default false,
    created_ms bigint not null,
    last_login_ms bigint
);

-- Browser sessions: only the SHA-256 of the cookie value is stored; the CSRF token is the
-- per-session secret every state-changing form must echo.
create table sessions (
    session_hash text primary key,
    user_id bigint not null references users (user_id) on delete cascade,
    csrf_token text not null,
    created_ms bigint not null,
    expires_ms bigint not null
);
create index sessions_user_id on sessions (user_id);
create index sessions_expires on sessions (expires_ms);

-- One-time links printed at first start to create the first admin (SHA-256 stored).
create table setup_tokens (
    token_hash text primary key,
    created_ms bigint not null,
    expires_ms bigint not null
);
