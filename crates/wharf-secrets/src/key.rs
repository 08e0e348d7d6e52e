//! The one key that encrypts every stored secret, and where it comes from.
//!
//! `WHARF_SECRET_KEY` (the standard base64 of 32 bytes) wins, so CI can inject the key
//! without a file; otherwise the key file (`WHARF_SECRET_KEY_FILE`, else
//! `$XDG_CONFIG_HOME/wharf/secret.key`, else `$HOME/.config/wharf/secret.key`). The file
//! may hold the 32 raw bytes or their base64 on one line; wharf writes the base64 form, so
//! `WHARF_SECRET_KEY=$(cat secret.key)` moves a key into CI. Like ssh, wharf refuses a key
//! file that group or others can access, and one in a directory they can write to.
//!
//! A key has an id (a hash prefix, not the key) that every sealed value records, so a
//! value sealed under another key is reported as such instead of as damage, and a future
//! rotation knows which values still need re-sealing.

use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::Generate;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{self, Error, Result};

/// The environment variable holding the key: the standard base64 of 32 bytes.
pub const KEY_ENV: &str = "WHARF_SECRET_KEY";

/// The environment variable naming the key file, instead of the default location.
pub const KEY_FILE_ENV: &str = "WHARF_SECRET_KEY_FILE";

/// Key length in bytes (XChaCha20-Poly1305 takes 256-bit keys).
const KEY_LEN: usize = 32;

/// Longest key file read: a key in any accepted form is far shorter.
const MAX_KEY_FILE: u64 = 1024;

/// Permission bits for group and others, none of which the key file may have.
const GROUP_OTHER: u32 = 0o077;

/// Write permission for group and others, which the key file's directory may not have:
/// whoever can write there can swap the key (and read what is sealed with it next).
/// Reading the directory only lists names, so a usual 0755 directory is accepted.
const GROUP_OTHER_WRITE: u32 = 0o022;

/// The secret key: 32 bytes, wiped when dropped, never printed.
pub struct SecretKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    /// Where it came from, for hints; `None` for a key made by [`SecretKey::generate`].
    origin: Option<KeySource>,
}

impl SecretKey {
    /// The key's id: the first 8 bytes of the SHA-256 of the key, as 16 hex characters.
    /// It identifies the key without revealing it.
    pub fn id(&self) -> String {
        let digest = Sha256::digest(&self.bytes[..]);
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A new random key from the operating system's generator.
    ///
    /// # Panics
    /// If the operating system cannot provide random bytes (which does not happen on
    /// supported systems; [`load_key`] reports it as an error instead).
    pub fn generate() -> SecretKey {
        match SecretKey::try_generate() {
            Ok(key) => key,
            Err(e) => panic!("{e}"),
        }
    }

    fn try_generate() -> Result<SecretKey> {
        let mut bytes =
            <[u8; KEY_LEN]>::try_generate().map_err(|e| Error::Random(e.to_string()))?;
        let key = SecretKey {
            bytes: Zeroizing::new(bytes),
            origin: None,
        };
        bytes.zeroize();
        Ok(key)
    }

    /// The key bytes, for the cipher.
    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// Where the key came from, in words, for error messages.
    pub(crate) fn origin(&self) -> String {
        match &self.origin {
            Some(source) => source.to_string(),
            None => "a key generated in memory".to_string(),
        }
    }

    fn with_origin(bytes: Zeroizing<[u8; KEY_LEN]>, origin: KeySource) -> SecretKey {
        SecretKey {
            bytes,
            origin: Some(origin),
        }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(id {})", self.id())
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Where [`load_key`] found the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The `WHARF_SECRET_KEY` environment variable.
    Env,
    /// A key file (which [`load_key`] may just have created).
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env => f.write_str(KEY_ENV),
            KeySource::File(path) => write!(f, "the key file `{}`", path.display()),
        }
    }
}

/// The default key file: `$XDG_CONFIG_HOME/wharf/secret.key`, else
/// `$HOME/.config/wharf/secret.key`; `None` when neither variable is set.
/// `WHARF_SECRET_KEY_FILE` is not consulted here; [`load_key`] applies it.
pub fn default_key_path() -> Option<PathBuf> {
    default_key_path_from(
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

fn default_key_path_from(
    xdg_config_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    // The XDG spec says to ignore a relative XDG_CONFIG_HOME.
    let config = match xdg_config_home.map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        _ => PathBuf::from(home.filter(|h| !h.is_empty())?).join(".config"),
    };
    Some(config.join("wharf").join("secret.key"))
}

/// The key from `WHARF_SECRET_KEY`, else the key file (`WHARF_SECRET_KEY_FILE`, else
/// [`default_key_path`]), created with mode 0600, in a 0700 directory, atomically with
/// `O_EXCL`, when `create` and it does not exist.
pub fn load_key(create: bool) -> Result<(SecretKey, KeySource)> {
    let env_value = match std::env::var_os(KEY_ENV) {
        None => None,
        Some(value) => match value.into_string() {
            Ok(value) => Some(Zeroizing::new(value)),
            Err(value) => {
                let mut bytes = std::os::unix::ffi::OsStringExt::into_vec(value);
                bytes.zeroize();
                return Err(Error::MalformedEnvKey {
                    detail: "it is not valid UTF-8".to_string(),
                });
            }
        },
    };
    if let Some(value) = &env_value {
        return Ok((env_key(value)?, KeySource::Env));
    }
    let file = key_file_path().ok_or(Error::NoKeyLocation)?;
    load_key_from(None, &file, create)
}

/// The key file [`load_key`] reads when `WHARF_SECRET_KEY` is not set:
/// `WHARF_SECRET_KEY_FILE`, else [`default_key_path`].
pub fn key_file_path() -> Option<PathBuf> {
    std::env::var_os(KEY_FILE_ENV)
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
        .or_else(default_key_path)
}

/// [`load_key`] without the environment: the key from `env_value` (the value of
/// `WHARF_SECRET_KEY`) when given, else from `file`, creating it when `create`.
pub fn load_key_from(
    env_value: Option<&str>,
    file: &Path,
    create: bool,
) -> Result<(SecretKey, KeySource)> {
    if let Some(value) = env_value {
        return Ok((env_key(value)?, KeySource::Env));
    }
    let key = match read_key_file(file)? {
        Some(key) => key,
        None if create => create_key_file(file)?,
        None => {
            return Err(Error::NoKey {
                path: file.to_path_buf(),
            });
        }
    };
    Ok((key, KeySource::File(file.to_path_buf())))
}

fn env_key(value: &str) -> Result<SecretKey> {
    let bytes = decode_key(value.as_bytes()).map_err(|detail| Error::MalformedEnvKey { detail })?;
    Ok(SecretKey::with_origin(bytes, KeySource::Env))
}

/// The key in `text`, the standard base64 of 32 bytes (surrounding whitespace ignored);
/// on failure, what is wrong, without any of the content.
fn decode_key(text: &[u8]) -> std::result::Result<Zeroizing<[u8; KEY_LEN]>, String> {
    let text = text.trim_ascii();
    if text.is_empty() {
        return Err("it is empty".to_string());
    }
    // The base64 of 32 bytes is 44 characters; 64 decode to at most 48, the buffer.
    if text.len() > 64 {
        return Err(format!("it is {} characters long, not 44", text.len()));
    }
    let mut buf = Zeroizing::new([0u8; 48]);
    let len = STANDARD
        .decode_slice(text, &mut buf[..])
        .map_err(|_| "it is not valid base64".to_string())?;
    if len != KEY_LEN {
        return Err(format!("it decodes to {len} bytes, not {KEY_LEN}"));
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(&buf[..KEY_LEN]);
    Ok(key)
}

/// The key in the file at `path`, `None` if there is no such file.
fn read_key_file(path: &Path) -> Result<Option<SecretKey>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(error::io("open the secret key file", path)(e)),
    };
    check_dir(key_dir(path))?;
    // The open file's metadata, not the path's: the file checked is the file read.
    let meta = file
        .metadata()
        .map_err(error::io("inspect the secret key file", path))?;
    let malformed = |detail: String| Error::MalformedKeyFile {
        path: path.to_path_buf(),
        detail,
    };
    if !meta.is_file() {
        return Err(malformed("it is not a regular file".to_string()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & GROUP_OTHER != 0 {
        return Err(Error::InsecureKeyFile {
            path: path.to_path_buf(),
            mode,
        });
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(malformed(format!("it is {} bytes long", meta.len())));
    }
    // Room for the whole file up front, so the buffer never moves and leaves a copy.
    let mut content = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE as usize + 2));
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut content)
        .map_err(error::io("read the secret key file", path))?;
    let bytes = if content.len() == KEY_LEN {
        let mut raw = Zeroizing::new([0u8; KEY_LEN]);
        raw.copy_from_slice(&content);
        raw
    } else {
        decode_key(&content).map_err(|detail| match detail.strip_prefix("it ") {
            Some(detail) if !content.trim_ascii().is_empty() => {
                malformed(format!("it is {} bytes long, and {detail}", content.len()))
            }
            _ => malformed(detail),
        })?
    };
    Ok(Some(SecretKey::with_origin(
        bytes,
        KeySource::File(path.to_path_buf()),
    )))
}

/// The directory holding the key file `path`.
fn key_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Refuses a key directory that group or others can write to.
fn check_dir(dir: &Path) -> Result<()> {
    let meta = fs::metadata(dir).map_err(error::io("inspect the secret key directory", dir))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & GROUP_OTHER_WRITE != 0 {
        return Err(Error::InsecureKeyDir {
            path: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Creates the key file at `path` with a new key, or reads the one another process
/// created at the same moment. Readers never see a partial file: the key is written to
/// a temporary file and then linked to `path`, which fails if `path` exists (`O_EXCL`
/// semantics, atomic on every local file system).
fn create_key_file(path: &Path) -> Result<SecretKey> {
    let dir = key_dir(path);
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(error::io("create the secret key directory", dir))?;
    check_dir(dir)?;

    let key = SecretKey::try_generate()?;
    let mut line = Zeroizing::new(String::with_capacity(48));
    STANDARD.encode_string(&key.bytes[..], &mut line);
    line.push('\n');

    let file_name = path
        .file_name()
        .map_or_else(|| "secret.key".into(), |n| n.to_string_lossy());
    // Unique per attempt, also between threads: `create_new` below must not meet another
    // attempt's file.
    let nonce = u64::try_generate().map_err(|e| Error::Random(e.to_string()))?;
    let tmp = dir.join(format!(".{file_name}.{nonce:016x}.tmp"));
    let written = write_new(&tmp, line.as_bytes());
    let linked = written.and_then(|()| match fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(error::io("create the secret key file", path)(e)),
    });
    // The temporary name is only a staging place: remove it whatever happened.
    let _ = fs::remove_file(&tmp);
    if !linked? {
        // Another process created the key first: use theirs, so both agree.
        return read_key_file(path)?.ok_or_else(|| Error::NoKey {
            path: path.to_path_buf(),
        });
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(error::io("sync the secret key directory", dir))?;
    Ok(SecretKey::with_origin(
        key.bytes,
        KeySource::File(path.to_path_buf()),
    ))
}

/// Writes `content` to a new file at `path` (mode 0600, failing if it exists) and syncs it.
fn write_new(path: &Path, content: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(error::io("create the secret key file", path))?;
    file.write_all(content)
        .and_then(|()| file.sync_all())
        .map_err(error::io("write the secret key file", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The base64 of 32 bytes of `byte`.
    fn env_value(byte: u8) -> String {
        STANDARD.encode([byte; KEY_LEN])
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn id_is_16_hex_chars_of_the_sha256_and_debug_shows_only_it() {
        let (key, _) =
            load_key_from(Some(&env_value(7)), Path::new("/nonexistent"), false).unwrap();
        let digest = Sha256::digest([7u8; KEY_LEN]);
        let expected: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(key.id(), expected);
        assert_eq!(key.id().len(), 16);
        assert_eq!(format!("{key:?}"), format!("SecretKey(id {expected})"));
        assert_eq!(format!("{key}"), format!("SecretKey(id {expected})"));
        let shown = format!("{key:?} {key:#?} {key}");
        assert!(!shown.contains(&env_value(7)));
        assert!(!shown.contains("7, 7"), "{shown}");
        assert_ne!(SecretKey::generate().id(), SecretKey::generate().id());
    }

    #[test]
    fn creates_the_key_file_0600_in_a_0700_directory_and_reads_it_back() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config/wharf/secret.key");
        let (created, source) = load_key_from(None, &path, true).unwrap();
        assert_eq!(source, KeySource::File(path.clone()));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&tmp.path().join("config")), 0o700);
        // Only the key file is left behind, and it holds the base64 form.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim_end().len(), 44);

        let (again, _) = load_key_from(None, &path, false).unwrap();
        assert_eq!(again.id(), created.id());
        let (third, _) = load_key_from(None, &path, true).unwrap();
        assert_eq!(
            third.id(),
            created.id(),
            "create never replaces an existing key"
        );
    }

    #[test]
    fn processes_creating_the_key_at_once_all_get_the_same_key() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("wharf/secret.key");
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_key_from(None, &path, true).unwrap().0.id()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        assert_eq!(load_key_from(None, &path, false).unwrap().0.id(), ids[0]);
        let left: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary files left behind");
    }

    #[test]
    fn accepts_raw_and_base64_key_files_alike() {
        let tmp = tempfile::tempdir().unwrap();
        let raw = tmp.path().join("raw.key");
        let b64 = tmp.path().join("b64.key");
        for (path, content) in [
            (&raw, vec![9u8; KEY_LEN]),
            (&b64, format!("{}\n", env_value(9)).into_bytes()),
        ] {
            fs::write(path, content).unwrap();
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
        }
        let (from_env, _) = load_key_from(Some(&env_value(9)), &raw, false).unwrap();
        assert_eq!(
            load_key_from(None, &raw, false).unwrap().0.id(),
            from_env.id()
        );
        assert_eq!(
            load_key_from(None, &b64, false).unwrap().0.id(),
            from_env.id()
        );
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused_with_the_chmod_hint() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("secret.key");
        fs::write(&path, [1u8; KEY_LEN]).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_key_from(None, &path, true).unwrap_err();
        assert!(
            matches!(err, Error::InsecureKeyFile { mode: 0o644, .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("mode 0644"), "{text}");
        assert!(
            text.contains(&format!("hint: chmod 600 {}", path.display())),
            "{text}"
        );
        assert_eq!(fs::read(&path).unwrap(), [1u8; KEY_LEN], "never rewritten");
    }

    #[test]
    fn a_key_directory_writable_by_others_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wharf");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o775)).unwrap();
        let path = dir.join("secret.key");
        // Neither creating a key there nor reading one from there.
        let err = load_key_from(None, &path, true).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the directory `{0}` holding the secret key file is writable by group or \
                 others (mode 0775); refusing to use it\n\
                 hint: chmod 700 {0}",
                dir.display()
            )
        );
        assert!(!path.exists());
        fs::write(&path, [1u8; KEY_LEN]).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o757)).unwrap();
        let err = load_key_from(None, &path, false).unwrap_err();
        assert!(
            matches!(err, Error::InsecureKeyDir { mode: 0o757, .. }),
            "{err:?}"
        );
        // A directory others can only read is fine: the file itself is private.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(load_key_from(None, &path, false).is_ok());
    }

    #[test]
    fn the_env_key_wins_over_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("secret.key");
        let (file_key, _) = load_key_from(None, &path, true).unwrap();
        let (key, source) = load_key_from(Some(&env_value(3)), &path, false).unwrap();
        assert_eq!(source, KeySource::Env);
        assert_ne!(key.id(), file_key.id());
        // The file is not even looked at: an insecure one does not matter.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load_key_from(Some(&env_value(3)), &path, false).is_ok());
    }

    #[test]
    fn a_malformed_env_key_says_what_is_wrong_and_how_to_make_one() {
        let path = Path::new("/nonexistent/secret.key");
        let too_short = STANDARD.encode([5u8; 31]);
        let too_long = STANDARD.encode([5u8; 40]);
        for (value, detail) in [
            ("", "it is empty"),
            ("not base64 at all!", "it is not valid base64"),
            (too_short.as_str(), "it decodes to 31 bytes, not 32"),
            (too_long.as_str(), "it decodes to 40 bytes, not 32"),
            (&"ab".repeat(40), "it is 80 characters long, not 44"),
        ] {
            let err = load_key_from(Some(value), path, true).unwrap_err();
            let text = err.to_string();
            assert_eq!(
                text,
                format!(
                    "WHARF_SECRET_KEY is not a valid secret key: {detail}; it must be the \
                     standard base64 of exactly 32 bytes\n\
                     hint: make one with `head -c 32 /dev/urandom | base64`"
                )
            );
            if !value.is_empty() {
                assert!(!text.contains(value), "{text}");
            }
        }
        assert!(load_key_from(Some(&format!("  {}\n", env_value(1))), path, false).is_ok());
    }

    #[test]
    fn a_malformed_key_file_names_its_path_not_its_content() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("secret.key");
        for (content, detail) in [
            (&b""[..], "it is empty"),
            (&b" \n"[..], "it is empty"),
            (
                &b"short-secret-text"[..],
                "it is 17 bytes long, and is not valid base64",
            ),
            (
                &[1u8; 33][..],
                "it is 33 bytes long, and is not valid base64",
            ),
        ] {
            fs::write(&path, content).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            let text = load_key_from(None, &path, true).unwrap_err().to_string();
            assert!(text.contains(&format!("`{}`", path.display())), "{text}");
            assert!(text.contains(detail), "{text}");
            assert!(!text.contains("short-secret"), "{text}");
        }
    }

    #[test]
    fn no_key_and_no_create_says_how_to_create_one() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("wharf/secret.key");
        let err = load_key_from(None, &path, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no secret key: WHARF_SECRET_KEY is not set and the key file `{}` does not \
                 exist\n\
                 hint: `wharf secrets set` creates the key file on first use; or make a key \
                 with `head -c 32 /dev/urandom | base64` and put it in WHARF_SECRET_KEY or the \
                 key file (mode 600)",
                path.display()
            )
        );
        assert!(!path.parent().unwrap().exists(), "nothing created");
    }

    #[test]
    fn default_key_path_prefers_an_absolute_xdg_config_home() {
        let path = |xdg: Option<&str>, home: Option<&str>| {
            default_key_path_from(xdg.map(Into::into), home.map(Into::into))
        };
        assert_eq!(
            path(Some("/x/cfg"), Some("/home/u")),
            Some(PathBuf::from("/x/cfg/wharf/secret.key"))
        );
        assert_eq!(
            path(Some("relative"), Some("/home/u")),
            Some(PathBuf::from("/home/u/.config/wharf/secret.key"))
        );
        assert_eq!(
            path(None, Some("/home/u")),
            Some(PathBuf::from("/home/u/.config/wharf/secret.key"))
        );
        assert_eq!(path(None, None), None);
        assert_eq!(path(Some(""), Some("")), None);
    }
}
