//! What the store answers about earlier runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Event, JobStatus, Millis, Produced, RunStatus, StepStatus};

/// One line of `wharf runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run number.
    pub number: u64,
    /// The pipeline's name.
    pub pipeline: String,
    /// What started it.
    pub event: Event,
    /// How it ended (or `running`).
    pub status: RunStatus,
    /// When it started.
    pub started_at: Millis,
    /// When it ended.
    pub finished_at: Option<Millis>,
}

/// A run with everything recorded about it (`wharf show`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run itself.
    #[serde(flatten)]
    pub summary: RunSummary,
    /// The pipeline file, relative to the project root.
    pub file: String,
    /// Its jobs, in plan order.
    pub jobs: Vec<JobRecord>,
    /// What it warned about, in the order it happened.
    #[serde(default)]
    pub warnings: Vec<WarningRecord>,
}

/// A warning of a recorded run ([`crate::RunEvent::Warning`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarningRecord {
    /// The job it is about.
    pub job: String,
    /// 0-based index of the step it is about, if one.
    pub step: Option<usize>,
    /// What happened.
    pub message: String,
}

/// A job of a recorded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Job id.
    pub id: String,
    /// Ids of the jobs it needs.
    pub needs: Vec<String>,
    /// How it ended.
    pub status: JobStatus,
    /// Exit code of the deciding step.
    pub exit_code: Option<i32>,
    /// Why, when not obvious from the status.
    pub reason: Option<String>,
    /// The last attempt number (0 if it never started).
    pub attempt: u32,
    /// When its last attempt started.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub finished_at: Option<Millis>,
    /// Its steps (of the last attempt).
    pub steps: Vec<StepRecord>,
    /// Outputs it wrote.
    pub outputs: BTreeMap<String, String>,
    /// Artifacts it stored.
    pub artifacts: Vec<ArtifactRecord>,
    /// JUnit reports it produced.
    pub reports: Vec<ReportRecord>,
    /// Release artifacts its built-in steps produced (packages, images, Python files).
    #[serde(default)]
    pub produced: Vec<Produced>,
}

/// A step of a recorded job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 0-based index.
    pub index: usize,
    /// Display name.
    pub name: String,
    /// How it ended.
    pub status: StepStatus,
    /// Process exit code.
    pub exit_code: Option<i32>,
    /// When it started.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub finished_at: Option<Millis>,
    /// Log file, relative to the `.wharf` directory.
    pub log: Option<String>,
}

/// A stored artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// The job that produced it.
    pub job: String,
    /// Path relative to the workspace.
    pub path: String,
    /// Hex sha256 (its key in the content-addressed store).
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Unix mode bits.
    pub mode: u32,
}

/// A parsed JUnit report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRecord {
    /// The job that produced it.
    pub job: String,
    /// Path relative to the workspace.
    pub path: String,
    /// Test cases.
    pub tests: u64,
    /// Failed test cases.
    pub failures: u64,
    /// Test cases in error.
    pub errors: u64,
    /// Skipped test cases.
    pub skipped: u64,
    /// The failed and erroring test cases (the first [`FailedTest::MAX_LISTED`]).
    #[serde(default)]
    pub failed_tests: Vec<FailedTest>,
}

/// A failed or erroring test case of a JUnit report, as shown in the summary and kept
/// with the run: enough to know which test broke and how without opening the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedTest {
    /// The test case's `name`.
    pub name: String,
    /// Its `classname` (pytest: the module; JUnit: the class), empty when the report has none.
    pub classname: String,
    /// A failed assertion or an error.
    pub kind: FailureKind,
    /// The first lines of what the report says about it (the `message` attribute, else the
    /// element's text), at most [`FailedTest::MAX_MESSAGE_LINES`] lines and
    /// [`FailedTest::MAX_MESSAGE_CHARS`] characters.
    pub message: String,
}

impl FailedTest {
    /// The most failed test cases kept per report.
    pub const MAX_LISTED: usize = 20;
    /// The most lines of a message kept.
    pub const MAX_MESSAGE_LINES: usize = 5;
    /// The most characters of a message kept.
    pub const MAX_MESSAGE_CHARS: usize = 500;
}

/// How a test case went wrong (JUnit's `<failure>` or `<error>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// An assertion failed (`<failure>`).
    Failure,
    /// The test could not run to its end (`<error>`: an exception, a broken fixture).
    Error,
}

impl FailureKind {
    /// `failure` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Failure => "failure",
            FailureKind::Error => "error",
        }
    }

    /// The kind named `s` ([`FailureKind::as_str`]).
    pub fn parse(s: &str) -> Option<FailureKind> {
        match s {
            "failure" => Some(FailureKind::Failure),
            "error" => Some(FailureKind::Error),
            _ => None,
        }
    }
}

/// A release (`wharf releases`, `wharf release show`): what was released, from which
/// commit and run, with its notes and the digest of everything it ships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// The version, e.g. `1.2.0`.
    pub version: String,
    /// The git tag, e.g. `v1.2.0`.
    pub tag: String,
    /// The released commit (full sha).
    pub commit: String,
    /// The run that made it.
    pub run: u64,
    /// The release notes (Markdown).
    pub notes: String,
    /// When it was recorded.
    pub created_at: Millis,
    /// Artifacts, packages, images and Python files, with their digests.
    pub items: Vec<Produced>,
    /// What proves it: its signed provenance, the public key that signed it, SBOMs and
    /// image signatures, each by digest (empty for a release recorded before wharf made
    /// them, or listed without them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

/// One document that proves a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// What it is.
    pub kind: EvidenceKind,
    /// The digest of what it is about: an item's (an SBOM's artifact, a signature's image),
    /// or empty for what covers the whole release (the provenance, the key).
    pub subject: String,
    /// The file kept with the run (workspace-relative), or for a signature the tag it is in.
    pub name: String,
    /// `sha256:<hex>` of the document.
    pub digest: String,
    /// Where it is attached to its image in a registry (`host/name@sha256:…`), if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<String>,
}

/// What kind of document proves a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceKind {
    /// The SLSA v1 provenance statement in a DSSE envelope signed with the release key.
    Provenance,
    /// The release key's public half (PEM) that signed the rest.
    PublicKey,
    /// An SPDX 2.3 JSON SBOM of one item.
    SbomSpdx,
    /// A CycloneDX 1.6 JSON SBOM of one item.
    SbomCyclonedx,
    /// A cosign-format signature of an image (its `sha256-<hex>.sig` tag).
    Signature,
    /// The outcome of the `policy` step the release passed (wharf-policy's JSON).
    Policy,
}

impl EvidenceKind {
    /// The stable name used in the store and in `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Provenance => "provenance",
            EvidenceKind::PublicKey => "public-key",
            EvidenceKind::SbomSpdx => "sbom-spdx",
            EvidenceKind::SbomCyclonedx => "sbom-cyclonedx",
            EvidenceKind::Signature => "signature",
            EvidenceKind::Policy => "policy",
        }
    }

    /// Parses [`EvidenceKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "provenance" => EvidenceKind::Provenance,
            "public-key" => EvidenceKind::PublicKey,
            "sbom-spdx" => EvidenceKind::SbomSpdx,
            "sbom-cyclonedx" => EvidenceKind::SbomCyclonedx,
            "signature" => EvidenceKind::Signature,
            "policy" => EvidenceKind::Policy,
            _ => return None,
        })
    }
}

/// What a job hands to the jobs after it when they run in other processes (one platform
/// job per wharf job): written to `.wharf/handoff/JOB.json` (a matrix job's cells to
/// `.wharf/handoff/JOB/CELL.json`) and carried by the platform's artifact mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// The job's name.
    pub job: String,
    /// How it ended.
    pub status: JobStatus,
    /// Outputs it wrote.
    pub outputs: BTreeMap<String, String>,
    /// Artifacts it stored (already in the workspace of the next job).
    pub artifacts: Vec<ArtifactRecord>,
    /// What its built-in steps produced.
    pub produced: Vec<Produced>,
}
