//! The command line, as clap definitions. Nothing here does any work: `main` turns these
//! into requests for the command modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// wharf: self-hosted Continuous Delivery in one binary. Runs the same pipeline on a
/// laptop (`wharf run`) as on the server.
#[derive(Debug, Parser)]
#[command(name = "wharf", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Run as if started in DIR (the project holding wharf.yml or .wharf/).
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline (or the named jobs and what they need) locally.
    Run(RunArgs),
    /// Check the pipeline files and report every problem with its position.
    Validate(JsonFlag),
    /// Draw the job graph (text tree, Graphviz dot, or Mermaid).
    Graph(GraphArgs),
    /// Print the JSON Schema of the pipeline file (for editors).
    Schema,
    /// List earlier runs, newest first.
    Runs(RunsArgs),
    /// Show one run: jobs, steps, statuses, tests, artifacts.
    Show(ShowArgs),
    /// Print the logs of a run (or of one job of it).
    Logs(LogsArgs),
    /// List the artifacts a run stored.
    Artifacts(ShowArgs),
    /// Manage the encrypted secret store (values are read from stdin, never from argv).
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// The project's release key, which signs each release's provenance and images
    /// (ECDSA P-256; the private half sealed under the secret store's key).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Build or verify an immutable release package (a reproducible archive with a manifest).
    #[command(subcommand)]
    Package(PackageCommand),
    /// Plan a release from git (next version, notes), or show a recorded release.
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// List the recorded releases, newest first.
    Releases(JsonFlag),
    /// Approve a deployment that waits for approvals (`wharf approvals` lists them): you
    /// count once, and whoever started the run may not approve it unless the environment
    /// allows it.
    Approve(ApproveArgs),
    /// The deployments waiting for approvals (`--all`: every approval gate, decided too).
    Approvals(ApprovalsArgs),
    /// Promote a recorded release to an environment (`wharf deploy 1.2.0 --env
    /// production`), or resume / abort a paused deployment.
    ///
    /// What is deployed is the release's recorded digests, never a rebuild; the
    /// environment's gates, lease, strategy, health gate and analysis apply.
    Deploy(DeployArgs),
    /// Go back to the environment's previous good release at once (no pull, no build):
    /// a new deployment record, through the same gates.
    Rollback(RollbackArgs),
    /// List deployments, newest first: who, when, release, digests, strategy, status and
    /// why.
    Deployments(DeploymentsArgs),
    /// List the environments the pipeline declares, with their target, rules, what runs
    /// there and who holds their lease.
    Environments(EnvironmentsArgs),
    /// Write a thin GitHub Actions, GitLab CI, Woodpecker or Bitbucket file that calls wharf.
    ///
    /// The file installs wharf only from a source you pin, never by its crate name (whoever
    /// owns the name `wharf` on crates.io would run in your CI with its secrets): a git
    /// commit (--install-git URL --install-rev COMMIT), a release file and its sha256
    /// (--install-url URL --install-sha256 HEX), or an image by digest (--install-image
    /// NAME@sha256:HEX). Name it once: the file's header records it, exporting again keeps
    /// it, and --check fails when the file installs from another source than the one named.
    Export(ExportArgs),
    /// Build OCI images without a daemon (or from a Dockerfile), and push them.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Publish packages to an index (`wharf publish python`).
    #[command(subcommand)]
    Publish(PublishCommand),
    /// The job cache (`cache:` in a job): list, remove or prune its entries.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Run the CD server: forges' webhooks start runs, kept in a durable queue and run by
    /// the same runtime as `wharf run`.
    Serve(ServeArgs),
    /// Run wharf's reverse proxy: the data plane of deployments, with a control API that
    /// health-gates, switches atomically, drains, splits canaries and rolls back.
    Proxy(ProxyArgs),
    /// Administer a server's data directory: projects, their secrets, the event queue.
    Server(ServerArgs),
    /// Start a manual run on a server (the pipelines with `on.manual`), with inputs.
    Trigger(TriggerArgs),
    /// List a server's audit log (who changed what, when, from where), or verify its
    /// hash chain (`wharf audit verify`).
    Audit(AuditArgs),
}

/// `wharf audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Verify instead of listing.
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// A wharf server's URL; the token (an admin's) comes from `WHARF_TOKEN`.
    #[arg(long, value_name = "URL", env = "WHARF_SERVER", global = true)]
    pub server: Option<String>,
    /// Read the server's data directory directly instead of asking a server (wins over
    /// --server; default without either: as for `wharf serve`).
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// How many entries to list, newest first (at most 1000).
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Only entries numbered below SEQ (the next page).
    #[arg(long, value_name = "SEQ")]
    pub before: Option<i64>,
    /// Only this action (`token.create`) or family of actions (`token`).
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
}

/// `wharf audit …` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain from the first entry to the last; exit 1 naming the first
    /// entry that was changed, deleted or put out of order.
    Verify,
}

/// `wharf approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The approval gate's id (shown by the waiting job and by `wharf approvals`).
    pub id: i64,
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `wharf deploy`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DeployArgs {
    /// `resume` or `abort` a paused deployment.
    #[command(subcommand)]
    pub command: Option<DeployCommand>,
    /// The release's version (`wharf releases` lists them).
    #[arg(value_name = "VERSION")]
    pub release: Option<String>,
    /// The environment to deploy to.
    #[arg(long = "env", short = 'e', value_name = "ENVIRONMENT")]
    pub environment: Option<String>,
    /// Go back to an older release on purpose (otherwise refused as outdated).
    #[arg(long)]
    pub rollback: bool,
    /// Wait for the environment when another deployment holds it (default: fail with
    /// the holder's details).
    #[arg(long)]
    pub queue: bool,
    /// Print the deployment as JSON on stdout when it ends.
    #[arg(long)]
    pub json: bool,
    /// Deploy on a server instead (it runs the deployment; this waits for its end).
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `wharf deploy resume|abort`.
#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Resume a paused deployment (a canary step with `pause: manual`, an inconclusive
    /// analysis): it moves on to promotion.
    Resume(DeploymentIdArgs),
    /// Abort a deployment: traffic goes back to the previous release.
    Abort(DeploymentIdArgs),
}

/// A deployment's id.
#[derive(Debug, Args)]
pub struct DeploymentIdArgs {
    /// The deployment's id (`wharf deployments` lists them).
    pub id: i64,
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// A deployment of a server instead.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `wharf rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The environment.
    #[arg(value_name = "ENVIRONMENT")]
    pub environment: String,
    /// Skip the environment's gates (refs, freeze windows, approvals, wait timer) in an
    /// emergency, saying why: the reason and your name are kept with the deployment (on a
    /// server, in its audit log; there it takes an admin's token).
    #[arg(long, value_name = "REASON")]
    pub override_gates: Option<String>,
    /// Print the deployment as JSON on stdout when it ends.
    #[arg(long)]
    pub json: bool,
    /// Roll back on a server instead (it runs the deployment; this waits for its end).
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `wharf deployments`.
#[derive(Debug, Args)]
pub struct DeploymentsArgs {
    /// Only this environment's.
    #[arg(long = "env", short = 'e', value_name = "ENVIRONMENT")]
    pub environment: Option<String>,
    /// How many to list.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub limit: u32,
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// A server's deployments instead.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `wharf environments`.
#[derive(Debug, Args)]
pub struct EnvironmentsArgs {
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// A server's project instead.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `wharf approvals`.
#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    /// Every gate, not only those waiting.
    #[arg(long)]
    pub all: bool,
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `wharf trigger`.
#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// The branch whose latest commit runs (default: the repository's default branch).
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// A manual input, `NAME=VALUE` (repeatable).
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `wharf serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The data directory: database, key, repositories, runs (default: $WHARF_DATA_DIR,
    /// else $XDG_STATE_HOME/wharf/server, else ~/.local/state/wharf/server).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// The address to listen on. Only loopback unless you name another address.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8720")]
    pub listen: std::net::SocketAddr,
    /// Events run at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_runs: usize,
    /// Jobs at once within one run.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub parallel: usize,
    /// Seconds a client may take to send a webhook's body (forges send at once; a client
    /// that trickles is cut off with 408, and the server keeps serving).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub body_timeout: u64,
    /// How many times an event runs in all when the server dies under it: after a
    /// restart, its runs' unfinished jobs run again (reusing the finished ones) until this
    /// many attempts; 1 never retries.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub interrupted_attempts: u32,
    /// The server's URL as the forge's users reach it: commit statuses link to run pages
    /// under it (default: http:// and the --listen address).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// A file holding a token `/metrics` then requires (`Authorization: Bearer TOKEN`);
    /// without it `/metrics` is open, as Prometheus usually scrapes.
    #[arg(long, value_name = "FILE")]
    pub metrics_token_file: Option<std::path::PathBuf>,
    /// Live-log streams served at once (dashboard and `wharf logs -f`); one more gets 503
    /// with Retry-After and reads the stored log instead.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_followers: u32,
    /// How long a dashboard sign-in lasts, in hours.
    #[arg(long, value_name = "HOURS", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub session_hours: u32,
}

/// `wharf proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The data plane's address: where the traffic comes in.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The control API's address (JSON; docs/proxy.md). A non-loopback address needs
    /// --admin-token-file.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8081")]
    pub admin: std::net::SocketAddr,
    /// The state file: services, their releases and weights, written on every change and
    /// restored on start.
    #[arg(long, value_name = "FILE")]
    pub state: std::path::PathBuf,
    /// How long a replaced release's requests in flight may run before they are cut
    /// (`30s`, `500ms`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::commands::proxy::duration)]
    pub drain_timeout: std::time::Duration,
    /// How long a new release has to become healthy before its deploy fails.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::commands::proxy::duration)]
    pub health_timeout: std::time::Duration,
    /// A file holding the token the control API then requires (`Authorization: Bearer
    /// TOKEN`, at least 16 characters).
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<std::path::PathBuf>,
}

/// `wharf server …`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The server's data directory (default as for `wharf serve`).
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: ServerCommand,
}

/// `wharf server …` subcommands.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Register, list and remove projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// A project's secrets for server runs, sealed with the server's key (values from
    /// stdin, never argv).
    Secrets(ServerSecretsArgs),
    /// A project's release key for server releases, sealed with the server's key.
    Keys(ServerKeysArgs),
    /// The event queue: what arrived, what it started, what failed.
    Events(ServerEventsArgs),
    /// API tokens: create (shown once), list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `wharf server token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token; it is printed once and stored only as its SHA-256.
    Create(TokenCreateArgs),
    /// List tokens (never the tokens themselves).
    List(JsonFlag),
    /// Revoke a token by its id (from `list`).
    Revoke(TokenRevokeArgs),
}

/// `wharf server token create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// What the token is for (shown in `list`).
    pub name: String,
    /// What it may do: viewer (read), operator (also cancel, re-run, trigger), admin
    /// (also projects, secrets, tokens).
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A token's role.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    /// Read projects, runs, logs, artifacts, releases, secret names.
    Viewer,
    /// Also cancel, re-run and trigger runs.
    Operator,
    /// Also manage projects, secrets and tokens.
    Admin,
}

/// `wharf server token revoke`.
#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The token's id.
    pub id: i64,
}

/// `wharf server project …`.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Register a project: a git URL the server clones, and the forge whose webhooks it
    /// takes. Prints the webhook's route and secret (the secret once: it is stored sealed).
    Add(ProjectAddArgs),
    /// List the registered projects.
    List(JsonFlag),
    /// Unregister a project (its queue with it; its run history stays on disk).
    Remove(ProjectNameArg),
    /// Change a project's settings: where its commit statuses are reported.
    Set(ProjectSetArgs),
}

/// Where a project's commit statuses go (`project add` and `project set`).
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Report commit statuses to this forge API root (https://api.github.com,
    /// https://gitlab.example/api/v4, https://gitea.example/api/v1).
    #[arg(long, value_name = "URL")]
    pub status_api: Option<String>,
    /// Read the token statuses are posted with from stdin (sealed; never shown again).
    #[arg(long)]
    pub status_token_stdin: bool,
    /// The repository on the forge, owner/name (GitLab: project id or group/project);
    /// default: taken from --repo.
    #[arg(long, value_name = "OWNER/NAME")]
    pub status_repo: Option<String>,
}

/// `wharf server project set`.
#[derive(Debug, Args)]
pub struct ProjectSetArgs {
    /// The project's name.
    pub name: String,
    #[command(flatten)]
    pub statuses: StatusArgs,
    /// Stop reporting commit statuses (forgets the token).
    #[arg(long, conflicts_with_all = ["status_api", "status_token_stdin", "status_repo"])]
    pub no_statuses: bool,
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `wharf server project add`.
#[derive(Debug, Args)]
pub struct ProjectAddArgs {
    /// The project's name: letters, digits, `-` and `_` (its webhook route is /hooks/NAME).
    pub name: String,
    /// The git URL the server clones (https://, git://, ssh:// or a path).
    #[arg(long, value_name = "URL")]
    pub repo: String,
    /// The forge that sends its webhooks.
    #[arg(long, value_enum)]
    pub forge: ForgeArg,
    /// Also fetch the repository this often and run what is new (`60s`, `5m`).
    #[arg(long, value_name = "DURATION")]
    pub poll: Option<String>,
    /// Read the webhook secret from stdin instead of making one.
    #[arg(long, conflicts_with = "status_token_stdin")]
    pub webhook_secret_stdin: bool,
    #[command(flatten)]
    pub statuses: StatusArgs,
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A forge.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ForgeArg {
    /// GitHub.
    Github,
    /// GitLab.
    Gitlab,
    /// Gitea or Forgejo.
    Gitea,
}

/// A project's name.
#[derive(Debug, Args)]
pub struct ProjectNameArg {
    /// The project's name.
    pub name: String,
}

/// `wharf server secrets`.
#[derive(Debug, Args)]
pub struct ServerSecretsArgs {
    /// The project whose secrets these are.
    #[arg(long, value_name = "NAME")]
    pub project: String,
    #[command(subcommand)]
    pub command: SecretsCommand,
}

/// `wharf server keys`.
#[derive(Debug, Args)]
pub struct ServerKeysArgs {
    /// The project whose key this is.
    #[arg(long, value_name = "NAME")]
    pub project: String,
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// `wharf server events`.
#[derive(Debug, Args)]
pub struct ServerEventsArgs {
    /// Only this project's.
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `wharf cache …`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List the entries, most recently used first, with their sizes.
    List(JsonFlag),
    /// Remove the entries whose key starts with KEY (`PIPELINE/JOB/…`, as `list` shows).
    Rm(CacheRmArgs),
    /// Evict least recently used entries until the cache fits in its cap (or --max-size).
    Prune(CachePruneArgs),
}

/// `wharf cache rm`.
#[derive(Debug, Args)]
pub struct CacheRmArgs {
    /// A key, or the start of keys (`demo/test/` removes every entry of job `test`).
    #[arg(required_unless_present = "all")]
    pub key: Option<String>,
    /// Remove every entry.
    #[arg(long, conflicts_with = "key")]
    pub all: bool,
    /// Print what was removed as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `wharf cache prune`.
#[derive(Debug, Args)]
pub struct CachePruneArgs {
    /// The size to fit in (`500M`, `2G`; default: the cap, `WHARF_CACHE_MAX_SIZE` or 5G).
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<String>,
    /// Print what was evicted as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `wharf image …`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build an image into an OCI layout (daemonless; or `--dockerfile` through a Docker
    /// Engine), and push it with `--push`.
    Build(Box<ImageBuildArgs>),
    /// Push an image from an OCI layout to a registry under one or more tags.
    Push(ImagePushArgs),
    /// Show an image's manifest digest, platform, config and layers (no layer is fetched).
    Inspect(ImageInspectArgs),
}

/// `wharf image build`.
#[derive(Debug, Args)]
pub struct ImageBuildArgs {
    /// Base: `scratch`, `oci-layout:PATH[:TAG]`, or an image reference (pulled).
    #[arg(long, value_name = "BASE")]
    pub from: Option<String>,
    /// A layer: a file or directory and its absolute place in the image (repeatable).
    #[arg(long = "layer", value_name = "SRC:DEST")]
    pub layers: Vec<String>,
    /// Build this Dockerfile through a Docker Engine instead.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["from", "layers"])]
    pub dockerfile: Option<String>,
    /// The Docker build context (default: the current directory).
    #[arg(long, value_name = "DIR", requires = "dockerfile")]
    pub context: Option<String>,
    /// A Dockerfile `ARG` (repeatable).
    #[arg(long = "build-arg", value_name = "NAME=VALUE", requires = "dockerfile")]
    pub build_args: Vec<String>,
    /// The entrypoint, as a JSON array (`'["/app/run","--port","8080"]'`) or one word.
    #[arg(long, value_name = "JSON")]
    pub entrypoint: Option<String>,
    /// The default command, as a JSON array or one word.
    #[arg(long, value_name = "JSON")]
    pub cmd: Option<String>,
    /// An environment variable of the image (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// The working directory in the image.
    #[arg(long)]
    pub workdir: Option<String>,
    /// The user the image runs as.
    #[arg(long)]
    pub user: Option<String>,
    /// An exposed port, `8080` or `8080/tcp` (repeatable).
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<String>,
    /// A label (repeatable); wharf adds the `org.opencontainers.image.*` ones it knows.
    #[arg(long = "label", value_name = "NAME=VALUE")]
    pub labels: Vec<String>,
    /// The image name without a tag, e.g. `127.0.0.1:5000/demo`.
    #[arg(long, value_name = "NAME")]
    pub image: Option<String>,
    /// A tag or a full reference (repeatable; default: the version, `latest`, the short sha).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Push every tag after the build.
    #[arg(long)]
    pub push: bool,
    /// Layer compression.
    #[arg(long, value_name = "ALGORITHM", value_parser = ["gzip", "zstd"])]
    pub compression: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The OCI layout to write (default `.wharf/images/cli`).
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// The version for labels and the default tag (default: from a version tag at HEAD).
    #[arg(long = "release-version", value_name = "VERSION")]
    pub release_version: Option<String>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `wharf image push`.
#[derive(Debug, Args)]
pub struct ImagePushArgs {
    /// The OCI layout, `DIR` or `DIR:TAG` (the tag in the layout's index).
    #[arg(value_name = "LAYOUT[:TAG]")]
    pub layout: String,
    /// Where to push: full references (`127.0.0.1:5000/demo:1.2.3`).
    #[arg(required = true, value_name = "REF")]
    pub refs: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// How to reach a registry: shared by `wharf image build`, `push` and `inspect`.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// A registry (host[:port]) that may be reached over plain HTTP besides loopback ones.
    #[arg(long, value_name = "HOST")]
    pub insecure: Vec<String>,
    /// Registry user name, with `--password-secret` (without both, docker's config.json is
    /// read: `docker login` credentials and credential helpers).
    #[arg(long, requires = "password_secret")]
    pub username: Option<String>,
    /// The wharf secret holding the registry password or token.
    #[arg(long, value_name = "SECRET", requires = "username")]
    pub password_secret: Option<String>,
}

/// `wharf image inspect`.
#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// `oci-layout:DIR[:TAG]`, or a registry reference `HOST[:PORT]/NAME[:TAG][@sha256:…]`.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `wharf publish …`.
#[derive(Debug, Subcommand)]
pub enum PublishCommand {
    /// Upload wheels and sdists through the upload API twine uses.
    Python(PublishPythonArgs),
}

/// `wharf publish python`.
#[derive(Debug, Args)]
pub struct PublishPythonArgs {
    /// Wheels and sdists (globs are expanded by the shell).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The upload URL, e.g. `https://upload.pypi.org/legacy/`.
    #[arg(long, value_name = "URL")]
    pub repository: String,
    /// The wharf secret holding the API token (or password).
    #[arg(long, value_name = "SECRET")]
    pub token_secret: Option<String>,
    /// User name (default `__token__`).
    #[arg(long)]
    pub username: Option<String>,
    /// The index's simple API, to find files already published (default: from the URL).
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `wharf export`.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("install_source")
        .args(["install_git", "install_url", "install_image", "install"])
        .multiple(false)
))]
pub struct ExportArgs {
    /// The platform.
    #[arg(value_enum)]
    pub platform: ExportPlatform,
    /// The pipeline to export (default: the only one).
    #[arg(long, value_name = "NAME")]
    pub pipeline: Option<String>,
    /// Where to write (default: where the platform looks; `-` for stdout).
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// One platform job running the whole pipeline, instead of one per wharf job.
    #[arg(long)]
    pub single_job: bool,
    /// Exit 1 when the file on disk differs from what would be written, or installs wharf
    /// from another source than the one named (for CI).
    #[arg(long)]
    pub check: bool,
    /// Install wharf from this git repository, at --install-rev (`cargo install --locked
    /// --git URL --rev COMMIT wharf`).
    #[arg(
        long,
        value_name = "URL",
        requires = "install_rev",
        help_heading = "Install source (named once, recorded in the file's header)"
    )]
    pub install_git: Option<String>,
    /// The full commit hash (40 hex digits) of --install-git to build; a branch or tag can move.
    #[arg(
        long,
        value_name = "COMMIT",
        requires = "install_git",
        help_heading = "Install source (named once, recorded in the file's header)"
    )]
    pub install_rev: Option<String>,
    /// Install wharf from this release file (the binary, or a .tar.gz/.tar.xz holding it),
    /// checked against --install-sha256 before it runs.
    #[arg(
        long,
        value_name = "URL",
        requires = "install_sha256",
        help_heading = "Install source (named once, recorded in the file's header)"
    )]
    pub install_url: Option<String>,
    /// The sha256 of the --install-url file (64 hex digits, as `sha256sum` prints it).
    #[arg(
        long,
        value_name = "HEX",
        requires = "install_url",
        help_heading = "Install source (named once, recorded in the file's header)"
    )]
    pub install_sha256: Option<String>,
    /// Run the jobs in this image, which carries wharf, named by digest
    /// (`NAME@sha256:HEX`).
    #[arg(
        long,
        value_name = "IMAGE@sha256:HEX",
        conflicts_with = "image",
        help_heading = "Install source (named once, recorded in the file's header)"
    )]
    pub install_image: Option<String>,
    /// Your own install command instead of a pinned source (wharf cannot verify it), e.g.
    /// `wharf --version` on runners that already have wharf.
    #[arg(
        long,
        value_name = "COMMAND",
        help_heading = "Install source (named once, recorded in the file's header)"
    )]
    pub install: Option<String>,
    /// The container image jobs run in (Woodpecker, Bitbucket; GitLab when given).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
}

/// The platforms `wharf export` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportPlatform {
    /// GitHub Actions (.github/workflows/wharf-NAME.yml).
    Github,
    /// GitLab CI/CD (.gitlab-ci.yml).
    Gitlab,
    /// Woodpecker CI (.woodpecker/wharf-NAME.yml).
    Woodpecker,
    /// Bitbucket Pipelines (bitbucket-pipelines.yml).
    Bitbucket,
}

/// `wharf release …`.
#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Print the current release, the next version and the commits that decided it.
    Plan(ReleasePlanArgs),
    /// Print the release notes (Markdown) of the next release, or write them into a changelog.
    Notes(ReleaseNotesArgs),
    /// Show a recorded release: version, tag, commit, run, notes and every item's digest.
    Show(ReleaseShowArgs),
    /// Check a recorded release again: its signed provenance against the project's release
    /// keys, every item's digest, each image's signature and attached provenance.
    Verify(ReleaseShowArgs),
}

/// `wharf release show`.
#[derive(Debug, Args)]
pub struct ReleaseShowArgs {
    /// The version (`1.2.0`; a leading `v` is accepted).
    #[arg(value_name = "VERSION")]
    pub release: String,
    /// Print the release as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `wharf release plan`.
#[derive(Debug, Args)]
pub struct ReleasePlanArgs {
    /// Plan a pre-release `X.Y.Z-ID.N` (e.g. `--pre rc`).
    #[arg(long, value_name = "ID")]
    pub pre: Option<String>,
    /// Print the plan as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `wharf release notes`.
#[derive(Debug, Args)]
pub struct ReleaseNotesArgs {
    /// List the commits since this tag (default: the last release reachable from HEAD).
    #[arg(long, value_name = "TAG")]
    pub since: Option<String>,
    /// The version the notes are for (default: the planned next version).
    #[arg(long = "release-version", value_name = "VERSION")]
    pub release_version: Option<String>,
    /// Plan a pre-release `X.Y.Z-ID.N` (e.g. `--pre rc`).
    #[arg(long, value_name = "ID")]
    pub pre: Option<String>,
    /// Insert the notes at the top of this changelog (created if missing; a version that
    /// is already there is left alone).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "CHANGELOG.md")]
    pub write: Option<PathBuf>,
    /// Print the notes and commits as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `wharf package …`.
#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Archive files and directories into one reproducible package with a manifest.
    Create(PackageCreateArgs),
    /// Check every entry of a package against its manifest.
    Verify(PackageVerifyArgs),
}

/// `wharf package create`.
#[derive(Debug, Args)]
pub struct PackageCreateArgs {
    /// Files and directories to include, relative to the current directory.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// The package file to write (e.g. dist/app-1.2.3.tar.gz).
    #[arg(short, long, value_name = "FILE")]
    pub output: std::path::PathBuf,
    /// The version recorded in the manifest (default: from a version tag at HEAD).
    #[arg(long = "release-version", value_name = "VERSION")]
    pub release_version: Option<String>,
    /// The commit recorded in the manifest (default: HEAD).
    #[arg(long)]
    pub commit: Option<String>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `wharf package verify`.
#[derive(Debug, Args)]
pub struct PackageVerifyArgs {
    /// The package file.
    pub file: std::path::PathBuf,
    /// Print the manifest as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `wharf keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make the project's release key (`--rotate`: a new one; the old one is kept, retired,
    /// so what it signed can still be checked).
    Create(KeysCreateArgs),
    /// Show the release keys: the current one, then retired ones (`--pem`: only the
    /// current public key, for a verifier such as skopeo's `sigstoreSigned` policy).
    Show(KeysShowArgs),
}

/// `wharf keys create`.
#[derive(Debug, Args)]
pub struct KeysCreateArgs {
    /// Replace the current key with a new one (the old one is kept, retired).
    #[arg(long)]
    pub rotate: bool,
    /// Print the new key as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `wharf keys show`.
#[derive(Debug, Args)]
pub struct KeysShowArgs {
    /// Print only the current public key, PEM.
    #[arg(long, conflicts_with = "json")]
    pub pem: bool,
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `wharf secrets …`.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Store a secret; the value is read from stdin (or --from-file).
    Set(SecretSetArgs),
    /// List stored secrets: names, environments, update times. Never values.
    List(JsonFlag),
    /// Delete a secret.
    Rm(SecretNameArgs),
}

/// `wharf secrets set`.
#[derive(Debug, Args)]
pub struct SecretSetArgs {
    /// The name (the environment variable jobs see): `[A-Z_][A-Z0-9_]*`.
    pub name: String,
    /// Only for jobs of this environment (default: every environment).
    #[arg(long = "env", value_name = "ENVIRONMENT")]
    pub env: Option<String>,
    /// Read the value from this file instead of stdin.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<std::path::PathBuf>,
    /// Catches a value given on the command line, to refuse it without echoing it.
    #[arg(hide = true)]
    pub value_in_argv: Option<String>,
}

/// `wharf secrets rm`.
#[derive(Debug, Args)]
pub struct SecretNameArgs {
    /// The name.
    pub name: String,
    /// The environment it was stored for (default: the one for every environment).
    #[arg(long = "env", value_name = "ENVIRONMENT")]
    pub env: Option<String>,
}

/// `--json` alone.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `wharf run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Jobs to run (with everything they need). Default: every job.
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,

    /// The event to simulate.
    #[arg(long, value_enum, default_value_t = EventArg::Push)]
    pub event: EventArg,

    /// The branch (default: the checked-out branch).
    #[arg(long)]
    pub branch: Option<String>,

    /// The tag, for `--event tag` (default: a tag pointing at HEAD).
    #[arg(long)]
    pub tag: Option<String>,

    /// The commit (default: HEAD).
    #[arg(long)]
    pub sha: Option<String>,

    /// Re-run the jobs of RUN (default: the latest run) that failed, timed out or were
    /// cancelled, and every job after them, for that run's event; the jobs they need that
    /// succeeded are not run again (their outputs and artifacts are reused).
    #[arg(
        long,
        value_name = "RUN",
        num_args = 0..=1,
        default_missing_value = "latest",
        conflicts_with_all = ["jobs", "no_deps", "tag", "inputs", "base", "branch", "sha"]
    )]
    pub rerun_failed: Option<String>,

    /// For `on.push.paths` filters: the files changed since where HEAD left REF (their
    /// merge base), plus uncommitted changes. Default: the branch's upstream; without one,
    /// path filters are not applied (and `--dry-run` says so).
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,

    /// A manual input, `NAME=VALUE` (repeatable), for `--event manual`.
    #[arg(long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,

    /// Set a pipeline `env:` value for this run, `NAME=VALUE` (repeatable; the value is
    /// taken literally), e.g. `--env REGISTRY=127.0.0.1:5001`.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,

    /// Run at most N jobs at once.
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = default_parallelism())]
    pub parallel: usize,

    /// Print the plan and run nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Plain `[job] line` logs even on a terminal.
    #[arg(long)]
    pub plain: bool,

    /// One JSON event per line on stdout.
    #[arg(long, conflicts_with = "plain")]
    pub json: bool,

    /// Seconds between SIGTERM and SIGKILL when stopping a step.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub kill_grace: u64,

    /// Run only the named jobs, as if the jobs they need had succeeded (their artifacts
    /// must already be in the workspace). Exported CI files run one job per platform job.
    #[arg(long, requires = "jobs")]
    pub no_deps: bool,

    /// Leave every job's workspace (`.wharf/workspaces/RUN/JOB`) in place after the run,
    /// not only failed jobs' (which the next run removes).
    #[arg(long)]
    pub keep_workspaces: bool,

    /// Take the event (kind, branch, tag, sha, manual inputs from `WHARF_INPUT_<NAME>`)
    /// from the CI platform's variables: GitHub Actions, GitLab CI, Woodpecker, Bitbucket.
    /// `WHARF_MATRIX_<KEY>` variables pick the one cell of a matrix job to run.
    #[arg(long, conflicts_with_all = ["branch", "tag", "sha", "inputs"])]
    pub from_ci: bool,

    /// Read each declared secret from the environment variable of the same name instead
    /// of the secret store (a CI platform injects them from its own store).
    #[arg(long)]
    pub secrets_from_env: bool,
}

fn default_parallelism() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

/// The events `--event` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventArg {
    /// A push to a branch.
    Push,
    /// A tag (`--tag v1.2.3`).
    Tag,
    /// A pull request (no secrets unless the pipeline allows them).
    #[value(name = "pull_request", alias = "pull-request")]
    PullRequest,
    /// A cron schedule.
    Schedule,
    /// Started by hand (`--input k=v`).
    Manual,
}

/// `wharf graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
    /// Print each pipeline's jobs as JSON (`id`, `name`, `needs`, `if`), one document
    /// with a list of pipelines.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

/// Formats of `wharf graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// A readable tree.
    Text,
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// `wharf runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// How many runs to list.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: u32,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Reading the history of a project on a server instead of the local one.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// A wharf server's URL (the token comes from `WHARF_TOKEN`, never the command line).
    #[arg(long, value_name = "URL", env = "WHARF_SERVER")]
    pub server: Option<String>,
    /// The project on that server.
    #[arg(long, value_name = "NAME", env = "WHARF_PROJECT", requires = "server")]
    pub project: Option<String>,
}

/// `wharf show` and `wharf artifacts`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run number (default: the latest run).
    pub run: Option<u64>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `wharf logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run number (`latest` or omitted: the latest run).
    pub run: Option<String>,
    /// Only this job.
    pub job: Option<String>,
    /// Print JSON on stdout (one object per log line).
    #[arg(long)]
    pub json: bool,
    /// Follow a running run (or job): print what its steps write as they write it, until
    /// it ends.
    #[arg(short, long)]
    pub follow: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// clap checks its definitions (unique ids, valid defaults…) only in debug builds and
    /// only for the subcommand being parsed: check them all here.
    #[test]
    fn every_command_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
