//! The services catalog: what one word under `services:` becomes. Each entry pins its image tag,
//! sets dev credentials, has a readiness probe and, for data services, a volume (a
//! PersistentVolumeClaim, so the service runs as a StatefulSet). Values are templates (see
//! `template.rs`), so an override of `env:` carries through to `provides:` and the probe.

/// One port of a service. The first one is the service's `{{ .Port }}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogPort {
    /// The port's name in the Service and the container (an IANA service name).
    pub name: &'static str,
    pub port: u16,
    /// What the port is for, for `kilter catalog show`.
    pub what: &'static str,
}

/// How Kubernetes tells that the service is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A command run in the container (templates allowed in each word).
    Exec(Vec<String>),
    /// An HTTP GET of `path` on the named port.
    Http { path: String, port: String },
    /// A TCP connection to the named port.
    Tcp { port: String },
}

/// A catalog service.
#[derive(Debug)]
pub struct CatalogEntry {
    pub name: &'static str,
    pub description: &'static str,
    pub image: &'static str,
    pub ports: &'static [CatalogPort],
    pub env: &'static [(&'static str, &'static str)],
    pub provides: &'static [(&'static str, &'static str)],
    /// Shown by `kilter env` (templates: usually `{{ .Env.… }}`).
    pub credentials: &'static [(&'static str, &'static str)],
    /// Container arguments (the image's own command otherwise).
    pub args: &'static [&'static str],
    /// Mount path and size of the data volume.
    pub volume: Option<(&'static str, &'static str)>,
    pub probe: ProbeSpec,
    /// The port that serves a web UI (named in `ports`): the shared router gives it the name
    /// `<service>.<project>.localhost`.
    pub web: Option<&'static str>,
}

/// [`Probe`] in static form.
#[derive(Debug, Clone, Copy)]
pub enum ProbeSpec {
    Exec(&'static [&'static str]),
    Http { path: &'static str, port: &'static str },
    Tcp { port: &'static str },
}

impl ProbeSpec {
    pub fn to_probe(self) -> Probe {
        match self {
            ProbeSpec::Exec(argv) => Probe::Exec(argv.iter().map(|s| (*s).to_owned()).collect()),
            ProbeSpec::Http { path, port } => {
                Probe::Http { path: path.to_owned(), port: port.to_owned() }
            }
            ProbeSpec::Tcp { port } => Probe::Tcp { port: port.to_owned() },
        }
    }
}

/// The catalog, in the order `kilter catalog` lists it.
pub const CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        name: "postgres",
        description: "PostgreSQL database (the default `database:` of `kilter db`)",
        image: "postgres:17.5",
        ports: &[CatalogPort { name: "postgres", port: 5432, what: "PostgreSQL" }],
        env: &[
            ("POSTGRES_USER", "postgres"),
            ("POSTGRES_PASSWORD", "postgres"),
            ("POSTGRES_DB", "{{ .Project }}"),
            // A subdirectory: the volume's root may hold lost+found.
            ("PGDATA", "/var/lib/postgresql/data/pgdata"),
        ],
        provides: &[(
            "DATABASE_URL",
            "postgres://{{ .Env.POSTGRES_USER }}:{{ .Env.POSTGRES_PASSWORD }}@{{ .Name }}.{{ .Namespace }}.svc:{{ .Port }}/{{ .Env.POSTGRES_DB }}",
        )],
        credentials: &[
            ("user", "{{ .Env.POSTGRES_USER }}"),
            ("password", "{{ .Env.POSTGRES_PASSWORD }}"),
            ("database", "{{ .Env.POSTGRES_DB }}"),
        ],
        args: &[],
        volume: Some(("/var/lib/postgresql/data", "1Gi")),
        probe: ProbeSpec::Exec(&["pg_isready", "-h", "127.0.0.1", "-p", "{{ .Port }}"]),
        web: None,
    },
    CatalogEntry {
        name: "redis",
        description: "Redis key-value store",
        image: "redis:7.4.2",
        ports: &[CatalogPort { name: "redis", port: 6379, what: "Redis" }],
        env: &[],
        provides: &[("REDIS_URL", "redis://{{ .Name }}.{{ .Namespace }}.svc:{{ .Port }}/0")],
        credentials: &[],
        args: &[],
        volume: Some(("/data", "1Gi")),
        probe: ProbeSpec::Exec(&["redis-cli", "-p", "{{ .Port }}", "ping"]),
        web: None,
    },
    CatalogEntry {
        name: "mailpit",
        description: "Mailpit: an SMTP server that keeps every mail, with a web UI",
        image: "axllent/mailpit:v1.24.1",
        ports: &[
            CatalogPort { name: "smtp", port: 1025, what: "SMTP" },
            CatalogPort { name: "http", port: 8025, what: "web UI and API" },
        ],
        env: &[],
        provides: &[("SMTP_URL", "smtp://{{ .Name }}.{{ .Namespace }}.svc:{{ .Port }}")],
        credentials: &[],
        args: &[],
        volume: None,
        probe: ProbeSpec::Http { path: "/readyz", port: "http" },
        web: Some("http"),
    },
    CatalogEntry {
        name: "nats",
        description: "NATS messaging, with JetStream",
        image: "nats:2.11.6",
        ports: &[
            CatalogPort { name: "client", port: 4222, what: "NATS clients" },
            CatalogPort { name: "monitor", port: 8222, what: "HTTP monitoring" },
        ],
        env: &[],
        provides: &[("NATS_URL", "nats://{{ .Name }}.{{ .Namespace }}.svc:{{ .Port }}")],
        credentials: &[],
        args: &["--jetstream", "--http_port", "8222"],
        volume: None,
        probe: ProbeSpec::Http { path: "/healthz", port: "monitor" },
        web: Some("monitor"),
    },
    CatalogEntry {
        name: "rabbitmq",
        description: "RabbitMQ message broker, with the management UI",
        image: "rabbitmq:4.1.4-management",
        ports: &[
            CatalogPort { name: "amqp", port: 5672, what: "AMQP" },
            CatalogPort { name: "management", port: 15672, what: "management UI and API" },
        ],
        // Not `guest`: RabbitMQ lets `guest` in from localhost only, and a NodePort is not that.
        env: &[("RABBITMQ_DEFAULT_USER", "rabbitmq"), ("RABBITMQ_DEFAULT_PASS", "rabbitmq")],
        provides: &[(
            "AMQP_URL",
            "amqp://{{ .Env.RABBITMQ_DEFAULT_USER }}:{{ .Env.RABBITMQ_DEFAULT_PASS }}@{{ .Name }}.{{ .Namespace }}.svc:{{ .Port }}",
        )],
        credentials: &[
            ("user", "{{ .Env.RABBITMQ_DEFAULT_USER }}"),
            ("password", "{{ .Env.RABBITMQ_DEFAULT_PASS }}"),
        ],
        args: &[],
        volume: Some(("/var/lib/rabbitmq", "1Gi")),
        probe: ProbeSpec::Exec(&["rabbitmq-diagnostics", "-q", "ping"]),
        web: Some("management"),
    },
    CatalogEntry {
        name: "minio",
        description: "MinIO S3-compatible object storage, with its console",
        image: "minio/minio:RELEASE.2025-04-22T22-12-26Z",
        ports: &[
            CatalogPort { name: "api", port: 9000, what: "S3 API" },
            CatalogPort { name: "console", port: 9001, what: "web console" },
        ],
        env: &[("MINIO_ROOT_USER", "minioadmin"), ("MINIO_ROOT_PASSWORD", "minioadmin")],
        provides: &[("S3_ENDPOINT", "http://{{ .Name }}.{{ .Namespace }}.svc:{{ .Port }}")],
        credentials: &[
            ("access_key", "{{ .Env.MINIO_ROOT_USER }}"),
            ("secret_key", "{{ .Env.MINIO_ROOT_PASSWORD }}"),
        ],
        args: &["server", "/data", "--console-address", ":9001"],
        volume: Some(("/data", "1Gi")),
        probe: ProbeSpec::Http { path: "/minio/health/ready", port: "api" },
        web: Some("console"),
    },
];

/// The web UI port (its name) of the catalog service of that name, if it has one.
pub fn web_port(service: &str) -> Option<&'static str> {
    find(service).and_then(|e| e.web)
}

/// The catalog entry of that name.
pub fn find(name: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|e| e.name == name)
}

/// Every catalog name, in catalog order.
pub fn names() -> Vec<&'static str> {
    CATALOG.iter().map(|e| e.name).collect()
}
