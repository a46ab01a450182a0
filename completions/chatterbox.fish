# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_chatterbox_global_optspecs
    string join \n db= database-url= h/help V/version
end

function __fish_chatterbox_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_chatterbox_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_chatterbox_using_subcommand
    set -l cmd (__fish_chatterbox_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c chatterbox -n "__fish_chatterbox_needs_command" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_needs_command" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c chatterbox -n "__fish_chatterbox_needs_command" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_needs_command" -f -a "serve" -d 'Run the chat server (REST API, WebSocket chat and web UI)'
complete -c chatterbox -n "__fish_chatterbox_needs_command" -f -a "migrate" -d 'Apply pending database migrations'
complete -c chatterbox -n "__fish_chatterbox_needs_command" -f -a "migrate-to" -d 'Copy this SQLite installation (--db) into a new PostgreSQL database (--database-url), then verify the copy'
complete -c chatterbox -n "__fish_chatterbox_needs_command" -f -a "make-admin" -d 'Grant (or with --revoke, take away) the admin role'
complete -c chatterbox -n "__fish_chatterbox_needs_command" -f -a "user" -d 'Manage accounts'
complete -c chatterbox -n "__fish_chatterbox_needs_command" -f -a "room" -d 'Manage rooms (public and private; DMs belong to their people)'
complete -c chatterbox -n "__fish_chatterbox_needs_command" -f -a "messages" -d 'Work with the message history'
complete -c chatterbox -n "__fish_chatterbox_needs_command" -f -a "backup" -d 'Write a verified copy of the SQLite database to FILE, also while the server runs'
complete -c chatterbox -n "__fish_chatterbox_needs_command" -f -a "service-unit" -d 'Print a systemd unit that runs this binary as a hardened service'
complete -c chatterbox -n "__fish_chatterbox_needs_command" -f -a "moderation" -d 'Automatic moderation: the live term lists'
complete -c chatterbox -n "__fish_chatterbox_needs_command" -f -a "generate" -d 'Write man pages and shell completions (for packagers and the repository)'
complete -c chatterbox -n "__fish_chatterbox_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l listen -d 'Address and port to listen on' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l metrics-listen -d 'Serve Prometheus metrics at http://ADDR/metrics, apart from the chat port (off unless given; keep it private: it shows figures about your users\' activity)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l bcrypt-cost -d 'bcrypt cost for new password hashes (4-31; each step doubles the work)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l token-ttl -d 'How long a sign-in lasts: seconds, or a number with s, m, h or d (at most 3650d)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l edit-window -d 'How long after sending a message its author may still edit it: seconds, or a number with s, m, h or d (deleting is always possible)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l moderation-webhook -d 'POST every message and edit to this http:// or https:// URL as JSON and follow its verdict (allow, flag, refuse); use http:// only for a webhook on the same host or a private network: the calls carry private rooms\' and DMs\' text' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l moderation-webhook-ca -d 'PEM file of the certificate authorities an https:// webhook\'s certificate must chain to (default: the system\'s, from SSL_CERT_FILE or /etc/ssl/certs/ca-certificates.crt and the other usual places)' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l moderation-webhook-timeout -d 'How long a message waits for the webhook\'s verdict (a free slot included): 500ms, 2s...' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l moderation-webhook-fail -d 'Without a verdict (timeout, error, bad answer): deliver (open) or refuse with an error the sender may retry, never a strike (closed)' -r -f -a "open\t''
closed\t''"
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l moderation-webhook-concurrency -d 'Calls to the webhook in flight at once; more messages wait for a slot' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l jwt-secret-file -d 'File holding the token-signing secret (else CHATTERBOX_JWT_SECRET, else one generated and kept in the database)' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l blocklist -d 'Word list for moderation: a file with one term per line (# comments), or a built-in list: `default` (profanity and insults) or `original` (the original implementation\'s six words). It seeds the live block list once, on the first start against a database; later changes of this flag are not applied (manage the list with `chatterbox moderation terms`)' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l auto-join -d 'Public rooms new accounts join besides `general` (comma-separated names; they must exist: `chatterbox room create`)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l classifier -d 'The learned classifier of offensive language built in (alt-profanity-check\'s model), beside the word list' -r -f -a "off\t'not loaded'
flag\t'deliver every message and score it for moderators'
enforce\t'refuse a message or edit scoring at least --classifier-threshold as a violation, like a word-list hit'"
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l classifier-threshold -d 'The classifier\'s score (a probability, between 0 and 1) from which a message counts as offensive. The default 0.7 is the lowest at which it flagged at most 1 % of everyday chat, of prose and of dictionary sentences in our measurements, while it caught 62 % of insults made of ordinary words (README, Classifier)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l warning-limit -d 'The violation that blocks an account (earlier ones are warnings); the same as `--moderation-ladder` with N-1 warnings then block [default: 3]' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l moderation-ladder -d 'What each strike (moderation violation) does, in order: `warn`, `mute:DURATION` (30s, 10m, 24h, 7d) or `block` (last); past the end the last step repeats' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l strike-decay -d 'Strikes older than this no longer count (30m, 24h, 7d); off by default' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l max-message-chars -d 'Longest chat message, in characters' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l history -d 'Messages sent to a client when it connects' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l message-burst -d 'Messages a connection may send in a burst' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l message-rate -d 'Sustained messages per second per connection' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l auth-burst -d 'Login and registration attempts allowed in a burst, per client address and per account' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l auth-per-minute -d 'Sustained login and registration attempts per minute, per address and per account' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l max-pending-logins -d 'Logins and registrations allowed to wait for password hashing at once; more are refused with 503 and Retry-After' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l web-dir -d 'Serve the web UI from this folder instead of the copy built into the binary' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l cors-origin -d 'Let pages from this origin (scheme://host[:port]) call the API and open the chat, like the original\'s frontend on its own dev server; repeat for more (none by default)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l trusted-proxy -d 'A reverse proxy (IP address or CIDR network) whose X-Forwarded-For names the client that login limits are keyed by, and which --max-connections-per-ip does not cap; repeat for more (none by default: the header is ignored)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l grace-period -d 'Seconds that shutdown waits for connections and pending writes' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l max-connections -d 'Most simultaneous connections (HTTP and WebSocket)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l max-connections-per-ip -d 'Most simultaneous connections from one client address (an IPv6 client: its /64); connections from a --trusted-proxy are not capped by it' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l tls-cert -d 'Serve HTTPS and WSS with this PEM certificate chain (with --tls-key); SIGHUP rereads both files (a renewed certificate), keeping the old ones if the new ones are bad' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l tls-key -d 'The PEM private key of --tls-cert' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l max-sockets-per-user -d 'Most simultaneous chat WebSockets of one account; more are refused with 429' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -l rate-limit-off -d 'Turn off login and registration rate limits (for tests and trusted networks only)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand serve" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand migrate" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand migrate" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand migrate" -l status -d 'List applied and pending migrations without changing anything'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand migrate" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand migrate" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand migrate-to" -l format -d 'The summary\'s format (progress goes to stderr)' -r -f -a "table\t''
csv\t''
json\t''"
complete -c chatterbox -n "__fish_chatterbox_using_subcommand migrate-to" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand migrate-to" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand migrate-to" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand migrate-to" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand make-admin" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand make-admin" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand make-admin" -l revoke -d 'Take the admin role away instead'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand make-admin" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand make-admin" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and not __fish_seen_subcommand_from list block unblock mute unmute create help" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and not __fish_seen_subcommand_from list block unblock mute unmute create help" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and not __fish_seen_subcommand_from list block unblock mute unmute create help" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and not __fish_seen_subcommand_from list block unblock mute unmute create help" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and not __fish_seen_subcommand_from list block unblock mute unmute create help" -f -a "list" -d 'List accounts'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and not __fish_seen_subcommand_from list block unblock mute unmute create help" -f -a "block" -d 'Block an account: no login, no chat; its open connections are closed'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and not __fish_seen_subcommand_from list block unblock mute unmute create help" -f -a "unblock" -d 'Unblock an account and reset its warnings'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and not __fish_seen_subcommand_from list block unblock mute unmute create help" -f -a "mute" -d 'Mute an account for a while: it reads but cannot post; a running server tells it at once'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and not __fish_seen_subcommand_from list block unblock mute unmute create help" -f -a "unmute" -d 'Lift an account\'s mute'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and not __fish_seen_subcommand_from list block unblock mute unmute create help" -f -a "create" -d 'Create an account (for example the first admin)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and not __fish_seen_subcommand_from list block unblock mute unmute create help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from list" -l format -r -f -a "table\t''
csv\t''
json\t''"
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from list" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from list" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from list" -l blocked -d 'Only blocked accounts'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from list" -l admins -d 'Only admins'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from block" -l reason -d 'Why, for the audit log' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from block" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from block" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from block" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from block" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from unblock" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from unblock" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from unblock" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from unblock" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from mute" -l for -d 'How long: 30s, 10m, 1h, 7d (at most 366d)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from mute" -l reason -d 'Why, for the audit log' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from mute" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from mute" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from mute" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from mute" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from unmute" -l reason -d 'Why, for the audit log' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from unmute" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from unmute" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from unmute" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from unmute" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from create" -l email -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from create" -l bcrypt-cost -d 'bcrypt cost of the password hash (4-31); use the daemon\'s, so the account\'s logins take as long as everyone\'s' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from create" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from create" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from create" -l password-stdin -d 'Read the password from the first line of standard input instead of prompting'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from create" -l admin -d 'Make the account an admin'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "list" -d 'List accounts'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "block" -d 'Block an account: no login, no chat; its open connections are closed'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "unblock" -d 'Unblock an account and reset its warnings'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "mute" -d 'Mute an account for a while: it reads but cannot post; a running server tells it at once'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "unmute" -d 'Lift an account\'s mute'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create an account (for example the first admin)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and not __fish_seen_subcommand_from list create archive add-member remove-member moderator help" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and not __fish_seen_subcommand_from list create archive add-member remove-member moderator help" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and not __fish_seen_subcommand_from list create archive add-member remove-member moderator help" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and not __fish_seen_subcommand_from list create archive add-member remove-member moderator help" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and not __fish_seen_subcommand_from list create archive add-member remove-member moderator help" -f -a "list" -d 'List public and private rooms with their members and activity (not DMs)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and not __fish_seen_subcommand_from list create archive add-member remove-member moderator help" -f -a "create" -d 'Create a room, with no member yet (people join a public room; add them to a private one)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and not __fish_seen_subcommand_from list create archive add-member remove-member moderator help" -f -a "archive" -d 'Archive a room (its members still read it, nobody can post), or with --undo open it again'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and not __fish_seen_subcommand_from list create archive add-member remove-member moderator help" -f -a "add-member" -d 'Add an account to a private room'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and not __fish_seen_subcommand_from list create archive add-member remove-member moderator help" -f -a "remove-member" -d 'Remove an account from a private room; its open chats stop getting the room at once'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and not __fish_seen_subcommand_from list create archive add-member remove-member moderator help" -f -a "moderator" -d 'Name a member moderator of a room (or with --remove unname them); a running daemon\'s members see it within a second'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and not __fish_seen_subcommand_from list create archive add-member remove-member moderator help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from list" -l format -r -f -a "table\t''
csv\t''
json\t''"
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from list" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from list" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from create" -l topic -d 'What the room is about (at most 200 characters)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from create" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from create" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from create" -l private -d 'Members only, instead of listed in the directory for anyone to join'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from archive" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from archive" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from archive" -l undo -d 'Open an archived room again instead'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from archive" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from archive" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from add-member" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from add-member" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from add-member" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from add-member" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from remove-member" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from remove-member" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from remove-member" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from remove-member" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from moderator" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from moderator" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from moderator" -l remove -d 'Unname the moderator instead'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from moderator" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from moderator" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from help" -f -a "list" -d 'List public and private rooms with their members and activity (not DMs)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a room, with no member yet (people join a public room; add them to a private one)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from help" -f -a "archive" -d 'Archive a room (its members still read it, nobody can post), or with --undo open it again'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from help" -f -a "add-member" -d 'Add an account to a private room'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from help" -f -a "remove-member" -d 'Remove an account from a private room; its open chats stop getting the room at once'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from help" -f -a "moderator" -d 'Name a member moderator of a room (or with --remove unname them); a running daemon\'s members see it within a second'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand room; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and not __fish_seen_subcommand_from export delete help" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and not __fish_seen_subcommand_from export delete help" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and not __fish_seen_subcommand_from export delete help" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and not __fish_seen_subcommand_from export delete help" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and not __fish_seen_subcommand_from export delete help" -f -a "export" -d 'Export messages of every conversation as CSV (id, sender_id, sender_username, content, timestamp, room, edited_at); deleted messages are left out'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and not __fish_seen_subcommand_from export delete help" -f -a "delete" -d 'Delete a message (its text is gone; open chats remove it within a second); recorded in the audit log as done by `cli`, with the reason'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and not __fish_seen_subcommand_from export delete help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from export" -s o -l output -d 'Write to this file instead of stdout (`-`): a regular file is replaced atomically (a temporary file renamed into place, through a symlink to its target); a FIFO or device is written into' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from export" -l since -d 'Only messages at or after this time (RFC 3339, or a date meaning midnight UTC)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from export" -l until -d 'Only messages before this time (RFC 3339, or a date meaning midnight UTC)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from export" -l after-id -d 'Only messages with an id greater than N (for incremental exports)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from export" -l room -d 'Only messages of this room (its name; DMs have none)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from export" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from export" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from export" -l csv -d 'Write CSV (the export format; accepted for explicitness)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from export" -l raw -d 'Write cells exactly as stored, without neutralising spreadsheet formulas'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from export" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from delete" -l reason -d 'Why, for the audit log' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from delete" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from delete" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from help" -f -a "export" -d 'Export messages of every conversation as CSV (id, sender_id, sender_username, content, timestamp, room, edited_at); deleted messages are left out'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete a message (its text is gone; open chats remove it within a second); recorded in the audit log as done by `cli`, with the reason'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand messages; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand backup" -l format -d 'The summary\'s format (rows per table of the copy)' -r -f -a "table\t''
csv\t''
json\t''"
complete -c chatterbox -n "__fish_chatterbox_using_subcommand backup" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand backup" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand backup" -l force -d 'Replace FILE if it exists'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand backup" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand backup" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand service-unit" -l listen -d 'The address the service listens on' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand service-unit" -l user -d 'Run the service as this existing account instead of a dynamic user' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand service-unit" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand service-unit" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand service-unit" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand service-unit" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and not __fish_seen_subcommand_from terms help" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and not __fish_seen_subcommand_from terms help" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and not __fish_seen_subcommand_from terms help" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and not __fish_seen_subcommand_from terms help" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and not __fish_seen_subcommand_from terms help" -f -a "terms" -d 'The live term lists: blocked terms and allowed words, applied by running daemons within a second'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and not __fish_seen_subcommand_from terms help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and __fish_seen_subcommand_from terms" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and __fish_seen_subcommand_from terms" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and __fish_seen_subcommand_from terms" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and __fish_seen_subcommand_from terms" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and __fish_seen_subcommand_from terms" -f -a "list" -d 'List the terms'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and __fish_seen_subcommand_from terms" -f -a "add" -d 'Block a term (or with --allow, accept a word the word list would catch)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and __fish_seen_subcommand_from terms" -f -a "remove" -d 'Remove a term from whichever list holds it'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and __fish_seen_subcommand_from terms" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and __fish_seen_subcommand_from help" -f -a "terms" -d 'The live term lists: blocked terms and allowed words, applied by running daemons within a second'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand moderation; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand generate" -l out-dir -d 'Folder that receives man/ and completions/' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand generate" -l db -d 'The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]' -r -F
complete -c chatterbox -n "__fish_chatterbox_using_subcommand generate" -l database-url -d 'Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname, or key=value settings); for several instances on one database. Not together with --db, except for migrate-to (from --db into this one)' -r
complete -c chatterbox -n "__fish_chatterbox_using_subcommand generate" -s h -l help -d 'Print help'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand generate" -s V -l version -d 'Print version'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and not __fish_seen_subcommand_from serve migrate migrate-to make-admin user room messages backup service-unit moderation generate help" -f -a "serve" -d 'Run the chat server (REST API, WebSocket chat and web UI)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and not __fish_seen_subcommand_from serve migrate migrate-to make-admin user room messages backup service-unit moderation generate help" -f -a "migrate" -d 'Apply pending database migrations'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and not __fish_seen_subcommand_from serve migrate migrate-to make-admin user room messages backup service-unit moderation generate help" -f -a "migrate-to" -d 'Copy this SQLite installation (--db) into a new PostgreSQL database (--database-url), then verify the copy'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and not __fish_seen_subcommand_from serve migrate migrate-to make-admin user room messages backup service-unit moderation generate help" -f -a "make-admin" -d 'Grant (or with --revoke, take away) the admin role'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and not __fish_seen_subcommand_from serve migrate migrate-to make-admin user room messages backup service-unit moderation generate help" -f -a "user" -d 'Manage accounts'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and not __fish_seen_subcommand_from serve migrate migrate-to make-admin user room messages backup service-unit moderation generate help" -f -a "room" -d 'Manage rooms (public and private; DMs belong to their people)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and not __fish_seen_subcommand_from serve migrate migrate-to make-admin user room messages backup service-unit moderation generate help" -f -a "messages" -d 'Work with the message history'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and not __fish_seen_subcommand_from serve migrate migrate-to make-admin user room messages backup service-unit moderation generate help" -f -a "backup" -d 'Write a verified copy of the SQLite database to FILE, also while the server runs'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and not __fish_seen_subcommand_from serve migrate migrate-to make-admin user room messages backup service-unit moderation generate help" -f -a "service-unit" -d 'Print a systemd unit that runs this binary as a hardened service'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and not __fish_seen_subcommand_from serve migrate migrate-to make-admin user room messages backup service-unit moderation generate help" -f -a "moderation" -d 'Automatic moderation: the live term lists'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and not __fish_seen_subcommand_from serve migrate migrate-to make-admin user room messages backup service-unit moderation generate help" -f -a "generate" -d 'Write man pages and shell completions (for packagers and the repository)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and not __fish_seen_subcommand_from serve migrate migrate-to make-admin user room messages backup service-unit moderation generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "list" -d 'List accounts'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "block" -d 'Block an account: no login, no chat; its open connections are closed'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "unblock" -d 'Unblock an account and reset its warnings'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "mute" -d 'Mute an account for a while: it reads but cannot post; a running server tells it at once'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "unmute" -d 'Lift an account\'s mute'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "create" -d 'Create an account (for example the first admin)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from room" -f -a "list" -d 'List public and private rooms with their members and activity (not DMs)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from room" -f -a "create" -d 'Create a room, with no member yet (people join a public room; add them to a private one)'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from room" -f -a "archive" -d 'Archive a room (its members still read it, nobody can post), or with --undo open it again'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from room" -f -a "add-member" -d 'Add an account to a private room'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from room" -f -a "remove-member" -d 'Remove an account from a private room; its open chats stop getting the room at once'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from room" -f -a "moderator" -d 'Name a member moderator of a room (or with --remove unname them); a running daemon\'s members see it within a second'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from messages" -f -a "export" -d 'Export messages of every conversation as CSV (id, sender_id, sender_username, content, timestamp, room, edited_at); deleted messages are left out'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from messages" -f -a "delete" -d 'Delete a message (its text is gone; open chats remove it within a second); recorded in the audit log as done by `cli`, with the reason'
complete -c chatterbox -n "__fish_chatterbox_using_subcommand help; and __fish_seen_subcommand_from moderation" -f -a "terms" -d 'The live term lists: blocked terms and allowed words, applied by running daemons within a second'
