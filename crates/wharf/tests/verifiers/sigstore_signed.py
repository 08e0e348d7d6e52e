"""The `sigstoreSigned` check containers/image (skopeo, podman) makes before it copies an
image, for a policy with `keyPath` and `signedIdentity: matchRepository`, written out here
because Debian's skopeo has it patched out (see docs/supply-chain.md). It follows
containers/image's signature/sigstore and signature/policy_eval_sigstore.go:

1. the image's manifest digest is the SHA-256 of the manifest bytes the registry serves;
2. the signatures are the layers of the manifest at the tag `sha256-<hex>.sig` whose media
   type is `application/vnd.dev.cosign.simplesigning.v1+json`, each with its base64
   signature in the annotation `dev.cosignproject.cosign/signature`;
3. a signature is accepted when it verifies over the layer's bytes with the public key
   (ECDSA P-256, SHA-256, by pyca/cryptography), the payload's `critical.type` is
   `cosign container image signature`, its `critical.image.docker-manifest-digest` is the
   image's digest, and its `critical.identity.docker-reference` names the repository
   (matchRepository: the reference without tag or digest);
4. the image is accepted when one signature is, and refused otherwise.

    usage: sigstore_signed.py KEY.pem REGISTRY/REPO TAG WORKDIR [--sig-of DIGEST]

Prints `accepted: …` (exit 0) or `rejected: …` (exit 1). `--sig-of` reads the signatures
stored for another digest (what an attacker who re-pushed the tag would leave in place).
Only skopeo talks to the registry (plain HTTP on 127.0.0.1).
"""

import base64
import hashlib
import json
import os
import subprocess
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE = "dev.cosignproject.cosign/signature"


def reject(why):
    print("rejected: " + why)
    sys.exit(1)


def skopeo(*args):
    return subprocess.run(["skopeo", *args], check=True, capture_output=True).stdout


def main():
    key_path, repo, tag, work = sys.argv[1:5]
    sig_of = sys.argv[6] if len(sys.argv) > 6 and sys.argv[5] == "--sig-of" else None
    key = load_pem_public_key(open(key_path, "rb").read())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        reject("the key is not ECDSA")
    manifest = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{repo}:{tag}")
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    sig_tag = (sig_of or digest).replace(":", "-") + ".sig"
    where = os.path.join(work, "sig")
    try:
        skopeo("copy", "--quiet", "--src-tls-verify=false",
               f"docker://{repo}:{sig_tag}", f"dir:{where}")
    except subprocess.CalledProcessError:
        reject(f"{repo}@{digest} has no signature ({sig_tag})")
    sig_manifest = json.load(open(os.path.join(where, "manifest.json")))
    problems = []
    for layer in sig_manifest.get("layers", []):
        if layer.get("mediaType") != SIMPLE_SIGNING:
            continue
        payload = open(os.path.join(where, layer["digest"].split(":", 1)[1]), "rb").read()
        if "sha256:" + hashlib.sha256(payload).hexdigest() != layer["digest"]:
            problems.append("a payload does not match its digest")
            continue
        signature = base64.b64decode(layer.get("annotations", {}).get(SIGNATURE, ""))
        try:
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            problems.append("a signature does not verify with the key")
            continue
        critical = json.loads(payload)["critical"]
        if critical.get("type") != "cosign container image signature":
            problems.append("payload type " + repr(critical.get("type")))
        elif critical["image"].get("docker-manifest-digest") != digest:
            problems.append("signed " + critical["image"].get("docker-manifest-digest", "?")
                            + ", not " + digest)
        elif critical["identity"].get("docker-reference") != repo:
            problems.append("signed for " + critical["identity"].get("docker-reference", "?"))
        else:
            print(f"accepted: {repo}@{digest} signed by the key")
            return
    reject("; ".join(problems) or "no simple-signing layer")


main()
