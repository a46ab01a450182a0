
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'chatterbox' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'chatterbox'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'chatterbox' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the chat server (REST API, WebSocket chat and web UI)')
            [CompletionResult]::new('migrate', 'migrate', [CompletionResultType]::ParameterValue, 'Apply pending database migrations')
            [CompletionResult]::new('migrate-to', 'migrate-to', [CompletionResultType]::ParameterValue, 'Copy this SQLite installation (--db) into a new PostgreSQL database (--database-url), then verify the copy')
            [CompletionResult]::new('make-admin', 'make-admin', [CompletionResultType]::ParameterValue, 'Grant (or with --revoke, take away) the admin role')
            [CompletionResult]::new('user', 'user', [CompletionResultType]::ParameterValue, 'Manage accounts')
            [CompletionResult]::new('room', 'room', [CompletionResultType]::ParameterValue, 'Manage rooms (public and private; DMs belong to their people)')
            [CompletionResult]::new('messages', 'messages', [CompletionResultType]::ParameterValue, 'Work with the message history')
            [CompletionResult]::new('backup', 'backup', [CompletionResultType]::ParameterValue, 'Write a verified copy of the SQLite database to FILE, also while the server runs')
            [CompletionResult]::new('service-unit', 'service-unit', [CompletionResultType]::ParameterValue, 'Print a systemd unit that runs this binary as a hardened service')
            [CompletionResult]::new('moderation', 'moderation', [CompletionResultType]::ParameterValue, 'Automatic moderation: the live term lists')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write man pages and shell completions (for packagers and the repository)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'chatterbox;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address and port to listen on')
            [CompletionResult]::new('--metrics-listen', '--metrics-listen', [CompletionResultType]::ParameterName, 'Serve Prometheus metrics at http://ADDR/metrics, apart from the chat port (off unless given; keep it private: it shows figures about your users'' activity)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr')
            [CompletionResult]::new('--bcrypt-cost', '--bcrypt-cost', [CompletionResultType]::ParameterName, 'bcrypt cost for new password hashes (4-31; each step doubles the work)')
            [CompletionResult]::new('--token-ttl', '--token-ttl', [CompletionResultType]::ParameterName, 'How long a sign-in lasts: seconds, or a number with s, m, h or d (at most 3650d)')
            [CompletionResult]::new('--edit-window', '--edit-window', [CompletionResultType]::ParameterName, 'How long after sending a message its author may still edit it: seconds, or a number with s, m, h or d (deleting is always possible)')
            [CompletionResult]::new('--moderation-webhook', '--moderation-webhook', [CompletionResultType]::ParameterName, 'POST every message and edit to this http:// or https:// URL as JSON and follow its verdict (allow, flag, refuse); use http:// only for a webhook on the same host or a private network: the calls carry private rooms'' and DMs'' text')
            [CompletionResult]::new('--moderation-webhook-ca', '--moderation-webhook-ca', [CompletionResultType]::ParameterName, 'PEM file of the certificate authorities an https:// webhook''s certificate must chain to (default: the system''s, from SSL_CERT_FILE or /etc/ssl/certs/ca-certificates.crt and the other usual places)')
            [CompletionResult]::new('--moderation-webhook-timeout', '--moderation-webhook-timeout', [CompletionResultType]::ParameterName, 'How long a message waits for the webhook''s verdict (a free slot included): 500ms, 2s...')
            [CompletionResult]::new('--moderation-webhook-fail', '--moderation-webhook-fail', [CompletionResultType]::ParameterName, 'Without a verdict (timeout, error, bad answer): deliver (open) or refuse with an error the sender may retry, never a strike (closed)')
            [CompletionResult]::new('--moderation-webhook-concurrency', '--moderation-webhook-concurrency', [CompletionResultType]::ParameterName, 'Calls to the webhook in flight at once; more messages wait for a slot')
            [CompletionResult]::new('--jwt-secret-file', '--jwt-secret-file', [CompletionResultType]::ParameterName, 'File holding the token-signing secret (else CHATTERBOX_JWT_SECRET, else one generated and kept in the database)')
            [CompletionResult]::new('--blocklist', '--blocklist', [CompletionResultType]::ParameterName, 'Word list for moderation: a file with one term per line (# comments), or a built-in list: `default` (profanity and insults) or `original` (the original implementation''s six words). It seeds the live block list once, on the first start against a database; later changes of this flag are not applied (manage the list with `chatterbox moderation terms`)')
            [CompletionResult]::new('--auto-join', '--auto-join', [CompletionResultType]::ParameterName, 'Public rooms new accounts join besides `general` (comma-separated names; they must exist: `chatterbox room create`)')
            [CompletionResult]::new('--classifier', '--classifier', [CompletionResultType]::ParameterName, 'The learned classifier of offensive language built in (alt-profanity-check''s model), beside the word list')
            [CompletionResult]::new('--classifier-threshold', '--classifier-threshold', [CompletionResultType]::ParameterName, 'The classifier''s score (a probability, between 0 and 1) from which a message counts as offensive. The default 0.7 is the lowest at which it flagged at most 1 % of everyday chat, of prose and of dictionary sentences in our measurements, while it caught 62 % of insults made of ordinary words (README, Classifier)')
            [CompletionResult]::new('--warning-limit', '--warning-limit', [CompletionResultType]::ParameterName, 'The violation that blocks an account (earlier ones are warnings); the same as `--moderation-ladder` with N-1 warnings then block [default: 3]')
            [CompletionResult]::new('--moderation-ladder', '--moderation-ladder', [CompletionResultType]::ParameterName, 'What each strike (moderation violation) does, in order: `warn`, `mute:DURATION` (30s, 10m, 24h, 7d) or `block` (last); past the end the last step repeats')
            [CompletionResult]::new('--strike-decay', '--strike-decay', [CompletionResultType]::ParameterName, 'Strikes older than this no longer count (30m, 24h, 7d); off by default')
            [CompletionResult]::new('--max-message-chars', '--max-message-chars', [CompletionResultType]::ParameterName, 'Longest chat message, in characters')
            [CompletionResult]::new('--history', '--history', [CompletionResultType]::ParameterName, 'Messages sent to a client when it connects')
            [CompletionResult]::new('--message-burst', '--message-burst', [CompletionResultType]::ParameterName, 'Messages a connection may send in a burst')
            [CompletionResult]::new('--message-rate', '--message-rate', [CompletionResultType]::ParameterName, 'Sustained messages per second per connection')
            [CompletionResult]::new('--auth-burst', '--auth-burst', [CompletionResultType]::ParameterName, 'Login and registration attempts allowed in a burst, per client address and per account')
            [CompletionResult]::new('--auth-per-minute', '--auth-per-minute', [CompletionResultType]::ParameterName, 'Sustained login and registration attempts per minute, per address and per account')
            [CompletionResult]::new('--max-pending-logins', '--max-pending-logins', [CompletionResultType]::ParameterName, 'Logins and registrations allowed to wait for password hashing at once; more are refused with 503 and Retry-After')
            [CompletionResult]::new('--web-dir', '--web-dir', [CompletionResultType]::ParameterName, 'Serve the web UI from this folder instead of the copy built into the binary')
            [CompletionResult]::new('--cors-origin', '--cors-origin', [CompletionResultType]::ParameterName, 'Let pages from this origin (scheme://host[:port]) call the API and open the chat, like the original''s frontend on its own dev server; repeat for more (none by default)')
            [CompletionResult]::new('--trusted-proxy', '--trusted-proxy', [CompletionResultType]::ParameterName, 'A reverse proxy (IP address or CIDR network) whose X-Forwarded-For names the client that login limits are keyed by, and which --max-connections-per-ip does not cap; repeat for more (none by default: the header is ignored)')
            [CompletionResult]::new('--grace-period', '--grace-period', [CompletionResultType]::ParameterName, 'Seconds that shutdown waits for connections and pending writes')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Most simultaneous connections (HTTP and WebSocket)')
            [CompletionResult]::new('--max-connections-per-ip', '--max-connections-per-ip', [CompletionResultType]::ParameterName, 'Most simultaneous connections from one client address (an IPv6 client: its /64); connections from a --trusted-proxy are not capped by it')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Serve HTTPS and WSS with this PEM certificate chain (with --tls-key); SIGHUP rereads both files (a renewed certificate), keeping the old ones if the new ones are bad')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'The PEM private key of --tls-cert')
            [CompletionResult]::new('--max-sockets-per-user', '--max-sockets-per-user', [CompletionResultType]::ParameterName, 'Most simultaneous chat WebSockets of one account; more are refused with 429')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('--rate-limit-off', '--rate-limit-off', [CompletionResultType]::ParameterName, 'Turn off login and registration rate limits (for tests and trusted networks only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;migrate' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('--status', '--status', [CompletionResultType]::ParameterName, 'List applied and pending migrations without changing anything')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;migrate-to' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'The summary''s format (progress goes to stderr)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;make-admin' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('--revoke', '--revoke', [CompletionResultType]::ParameterName, 'Take the admin role away instead')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;user' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List accounts')
            [CompletionResult]::new('block', 'block', [CompletionResultType]::ParameterValue, 'Block an account: no login, no chat; its open connections are closed')
            [CompletionResult]::new('unblock', 'unblock', [CompletionResultType]::ParameterValue, 'Unblock an account and reset its warnings')
            [CompletionResult]::new('mute', 'mute', [CompletionResultType]::ParameterValue, 'Mute an account for a while: it reads but cannot post; a running server tells it at once')
            [CompletionResult]::new('unmute', 'unmute', [CompletionResultType]::ParameterValue, 'Lift an account''s mute')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create an account (for example the first admin)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'chatterbox;user;list' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'format')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('--blocked', '--blocked', [CompletionResultType]::ParameterName, 'Only blocked accounts')
            [CompletionResult]::new('--admins', '--admins', [CompletionResultType]::ParameterName, 'Only admins')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;user;block' {
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why, for the audit log')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;user;unblock' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;user;mute' {
            [CompletionResult]::new('--for', '--for', [CompletionResultType]::ParameterName, 'How long: 30s, 10m, 1h, 7d (at most 366d)')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why, for the audit log')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;user;unmute' {
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why, for the audit log')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;user;create' {
            [CompletionResult]::new('--email', '--email', [CompletionResultType]::ParameterName, 'email')
            [CompletionResult]::new('--bcrypt-cost', '--bcrypt-cost', [CompletionResultType]::ParameterName, 'bcrypt cost of the password hash (4-31); use the daemon''s, so the account''s logins take as long as everyone''s')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password from the first line of standard input instead of prompting')
            [CompletionResult]::new('--admin', '--admin', [CompletionResultType]::ParameterName, 'Make the account an admin')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;user;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List accounts')
            [CompletionResult]::new('block', 'block', [CompletionResultType]::ParameterValue, 'Block an account: no login, no chat; its open connections are closed')
            [CompletionResult]::new('unblock', 'unblock', [CompletionResultType]::ParameterValue, 'Unblock an account and reset its warnings')
            [CompletionResult]::new('mute', 'mute', [CompletionResultType]::ParameterValue, 'Mute an account for a while: it reads but cannot post; a running server tells it at once')
            [CompletionResult]::new('unmute', 'unmute', [CompletionResultType]::ParameterValue, 'Lift an account''s mute')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create an account (for example the first admin)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'chatterbox;user;help;list' {
            break
        }
        'chatterbox;user;help;block' {
            break
        }
        'chatterbox;user;help;unblock' {
            break
        }
        'chatterbox;user;help;mute' {
            break
        }
        'chatterbox;user;help;unmute' {
            break
        }
        'chatterbox;user;help;create' {
            break
        }
        'chatterbox;user;help;help' {
            break
        }
        'chatterbox;room' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List public and private rooms with their members and activity (not DMs)')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a room, with no member yet (people join a public room; add them to a private one)')
            [CompletionResult]::new('archive', 'archive', [CompletionResultType]::ParameterValue, 'Archive a room (its members still read it, nobody can post), or with --undo open it again')
            [CompletionResult]::new('add-member', 'add-member', [CompletionResultType]::ParameterValue, 'Add an account to a private room')
            [CompletionResult]::new('remove-member', 'remove-member', [CompletionResultType]::ParameterValue, 'Remove an account from a private room; its open chats stop getting the room at once')
            [CompletionResult]::new('moderator', 'moderator', [CompletionResultType]::ParameterValue, 'Name a member moderator of a room (or with --remove unname them); a running daemon''s members see it within a second')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'chatterbox;room;list' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'format')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;room;create' {
            [CompletionResult]::new('--topic', '--topic', [CompletionResultType]::ParameterName, 'What the room is about (at most 200 characters)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('--private', '--private', [CompletionResultType]::ParameterName, 'Members only, instead of listed in the directory for anyone to join')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;room;archive' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('--undo', '--undo', [CompletionResultType]::ParameterName, 'Open an archived room again instead')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;room;add-member' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;room;remove-member' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;room;moderator' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('--remove', '--remove', [CompletionResultType]::ParameterName, 'Unname the moderator instead')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;room;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List public and private rooms with their members and activity (not DMs)')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a room, with no member yet (people join a public room; add them to a private one)')
            [CompletionResult]::new('archive', 'archive', [CompletionResultType]::ParameterValue, 'Archive a room (its members still read it, nobody can post), or with --undo open it again')
            [CompletionResult]::new('add-member', 'add-member', [CompletionResultType]::ParameterValue, 'Add an account to a private room')
            [CompletionResult]::new('remove-member', 'remove-member', [CompletionResultType]::ParameterValue, 'Remove an account from a private room; its open chats stop getting the room at once')
            [CompletionResult]::new('moderator', 'moderator', [CompletionResultType]::ParameterValue, 'Name a member moderator of a room (or with --remove unname them); a running daemon''s members see it within a second')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'chatterbox;room;help;list' {
            break
        }
        'chatterbox;room;help;create' {
            break
        }
        'chatterbox;room;help;archive' {
            break
        }
        'chatterbox;room;help;add-member' {
            break
        }
        'chatterbox;room;help;remove-member' {
            break
        }
        'chatterbox;room;help;moderator' {
            break
        }
        'chatterbox;room;help;help' {
            break
        }
        'chatterbox;messages' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Export messages of every conversation as CSV (id, sender_id, sender_username, content, timestamp, room, edited_at); deleted messages are left out')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete a message (its text is gone; open chats remove it within a second); recorded in the audit log as done by `cli`, with the reason')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'chatterbox;messages;export' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Write to this file instead of stdout (`-`): a regular file is replaced atomically (a temporary file renamed into place, through a symlink to its target); a FIFO or device is written into')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Write to this file instead of stdout (`-`): a regular file is replaced atomically (a temporary file renamed into place, through a symlink to its target); a FIFO or device is written into')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only messages at or after this time (RFC 3339, or a date meaning midnight UTC)')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Only messages before this time (RFC 3339, or a date meaning midnight UTC)')
            [CompletionResult]::new('--after-id', '--after-id', [CompletionResultType]::ParameterName, 'Only messages with an id greater than N (for incremental exports)')
            [CompletionResult]::new('--room', '--room', [CompletionResultType]::ParameterName, 'Only messages of this room (its name; DMs have none)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('--csv', '--csv', [CompletionResultType]::ParameterName, 'Write CSV (the export format; accepted for explicitness)')
            [CompletionResult]::new('--raw', '--raw', [CompletionResultType]::ParameterName, 'Write cells exactly as stored, without neutralising spreadsheet formulas')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;messages;delete' {
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why, for the audit log')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;messages;help' {
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Export messages of every conversation as CSV (id, sender_id, sender_username, content, timestamp, room, edited_at); deleted messages are left out')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete a message (its text is gone; open chats remove it within a second); recorded in the audit log as done by `cli`, with the reason')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'chatterbox;messages;help;export' {
            break
        }
        'chatterbox;messages;help;delete' {
            break
        }
        'chatterbox;messages;help;help' {
            break
        }
        'chatterbox;backup' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'The summary''s format (rows per table of the copy)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace FILE if it exists')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;service-unit' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'The address the service listens on')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Run the service as this existing account instead of a dynamic user')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;moderation' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('terms', 'terms', [CompletionResultType]::ParameterValue, 'The live term lists: blocked terms and allowed words, applied by running daemons within a second')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'chatterbox;moderation;terms' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the terms')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Block a term (or with --allow, accept a word the word list would catch)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a term from whichever list holds it')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'chatterbox;moderation;terms;list' {
            [CompletionResult]::new('--list', '--list', [CompletionResultType]::ParameterName, 'Only this list')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'format')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;moderation;terms;add' {
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why, for the audit log')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('--allow', '--allow', [CompletionResultType]::ParameterName, 'Put it on the allow list: never a violation, even where a blocked term matches inside it')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;moderation;terms;remove' {
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why, for the audit log')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;moderation;terms;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the terms')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Block a term (or with --allow, accept a word the word list would catch)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a term from whichever list holds it')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'chatterbox;moderation;terms;help;list' {
            break
        }
        'chatterbox;moderation;terms;help;add' {
            break
        }
        'chatterbox;moderation;terms;help;remove' {
            break
        }
        'chatterbox;moderation;terms;help;help' {
            break
        }
        'chatterbox;moderation;help' {
            [CompletionResult]::new('terms', 'terms', [CompletionResultType]::ParameterValue, 'The live term lists: blocked terms and allowed words, applied by running daemons within a second')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'chatterbox;moderation;help;terms' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the terms')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Block a term (or with --allow, accept a word the word list would catch)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a term from whichever list holds it')
            break
        }
        'chatterbox;moderation;help;terms;list' {
            break
        }
        'chatterbox;moderation;help;terms;add' {
            break
        }
        'chatterbox;moderation;help;terms;remove' {
            break
        }
        'chatterbox;moderation;help;help' {
            break
        }
        'chatterbox;generate' {
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Folder that receives man/ and completions/')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'chatterbox;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the chat server (REST API, WebSocket chat and web UI)')
            [CompletionResult]::new('migrate', 'migrate', [CompletionResultType]::ParameterValue, 'Apply pending database migrations')
            [CompletionResult]::new('migrate-to', 'migrate-to', [CompletionResultType]::ParameterValue, 'Copy this SQLite installation (--db) into a new PostgreSQL database (--database-url), then verify the copy')
            [CompletionResult]::new('make-admin', 'make-admin', [CompletionResultType]::ParameterValue, 'Grant (or with --revoke, take away) the admin role')
            [CompletionResult]::new('user', 'user', [CompletionResultType]::ParameterValue, 'Manage accounts')
            [CompletionResult]::new('room', 'room', [CompletionResultType]::ParameterValue, 'Manage rooms (public and private; DMs belong to their people)')
            [CompletionResult]::new('messages', 'messages', [CompletionResultType]::ParameterValue, 'Work with the message history')
            [CompletionResult]::new('backup', 'backup', [CompletionResultType]::ParameterValue, 'Write a verified copy of the SQLite database to FILE, also while the server runs')
            [CompletionResult]::new('service-unit', 'service-unit', [CompletionResultType]::ParameterValue, 'Print a systemd unit that runs this binary as a hardened service')
            [CompletionResult]::new('moderation', 'moderation', [CompletionResultType]::ParameterValue, 'Automatic moderation: the live term lists')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write man pages and shell completions (for packagers and the repository)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'chatterbox;help;serve' {
            break
        }
        'chatterbox;help;migrate' {
            break
        }
        'chatterbox;help;migrate-to' {
            break
        }
        'chatterbox;help;make-admin' {
            break
        }
        'chatterbox;help;user' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List accounts')
            [CompletionResult]::new('block', 'block', [CompletionResultType]::ParameterValue, 'Block an account: no login, no chat; its open connections are closed')
            [CompletionResult]::new('unblock', 'unblock', [CompletionResultType]::ParameterValue, 'Unblock an account and reset its warnings')
            [CompletionResult]::new('mute', 'mute', [CompletionResultType]::ParameterValue, 'Mute an account for a while: it reads but cannot post; a running server tells it at once')
            [CompletionResult]::new('unmute', 'unmute', [CompletionResultType]::ParameterValue, 'Lift an account''s mute')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create an account (for example the first admin)')
            break
        }
        'chatterbox;help;user;list' {
            break
        }
        'chatterbox;help;user;block' {
            break
        }
        'chatterbox;help;user;unblock' {
            break
        }
        'chatterbox;help;user;mute' {
            break
        }
        'chatterbox;help;user;unmute' {
            break
        }
        'chatterbox;help;user;create' {
            break
        }
        'chatterbox;help;room' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List public and private rooms with their members and activity (not DMs)')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a room, with no member yet (people join a public room; add them to a private one)')
            [CompletionResult]::new('archive', 'archive', [CompletionResultType]::ParameterValue, 'Archive a room (its members still read it, nobody can post), or with --undo open it again')
            [CompletionResult]::new('add-member', 'add-member', [CompletionResultType]::ParameterValue, 'Add an account to a private room')
            [CompletionResult]::new('remove-member', 'remove-member', [CompletionResultType]::ParameterValue, 'Remove an account from a private room; its open chats stop getting the room at once')
            [CompletionResult]::new('moderator', 'moderator', [CompletionResultType]::ParameterValue, 'Name a member moderator of a room (or with --remove unname them); a running daemon''s members see it within a second')
            break
        }
        'chatterbox;help;room;list' {
            break
        }
        'chatterbox;help;room;create' {
            break
        }
        'chatterbox;help;room;archive' {
            break
        }
        'chatterbox;help;room;add-member' {
            break
        }
        'chatterbox;help;room;remove-member' {
            break
        }
        'chatterbox;help;room;moderator' {
            break
        }
        'chatterbox;help;messages' {
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Export messages of every conversation as CSV (id, sender_id, sender_username, content, timestamp, room, edited_at); deleted messages are left out')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete a message (its text is gone; open chats remove it within a second); recorded in the audit log as done by `cli`, with the reason')
            break
        }
        'chatterbox;help;messages;export' {
            break
        }
        'chatterbox;help;messages;delete' {
            break
        }
        'chatterbox;help;backup' {
            break
        }
        'chatterbox;help;service-unit' {
            break
        }
        'chatterbox;help;moderation' {
            [CompletionResult]::new('terms', 'terms', [CompletionResultType]::ParameterValue, 'The live term lists: blocked terms and allowed words, applied by running daemons within a second')
            break
        }
        'chatterbox;help;moderation;terms' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the terms')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Block a term (or with --allow, accept a word the word list would catch)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a term from whichever list holds it')
            break
        }
        'chatterbox;help;moderation;terms;list' {
            break
        }
        'chatterbox;help;moderation;terms;add' {
            break
        }
        'chatterbox;help;moderation;terms;remove' {
            break
        }
        'chatterbox;help;generate' {
            break
        }
        'chatterbox;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
