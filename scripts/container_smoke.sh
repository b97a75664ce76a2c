#!/usr/bin/env bash
# Build the real docker/Dockerfile without a registry and run the demo chain inside the image (run as root).
#
#   sudo scripts/container_smoke.sh [--engine podman|docker] [--keep]
#   (--keep: leave the built image, the stand-in bases and the run folder; without it nothing stays behind)
#
# nvidia/cuda images cannot be pulled here, so two stand-in bases are made locally and passed as the build
# arguments BASE_DEVEL / BASE_RUNTIME: a debootstrap Debian rootfs (runtime: plus the CUDA runtime libraries;
# devel: plus this machine's whole CUDA toolkit from /usr/local/cuda). Debian's Python is 3.11, so
# PYTHON_VERSION=3.11; the pinned torch comes from this machine's package index (mounted read-only during the
# build); one GPU architecture (9.0) keeps the InPlace-ABN compile short. Everything else is the Dockerfile as
# shipped: the builder compiles and verifies InPlace-ABN, the runtime stage has no compiler.
set -euo pipefail

ENGINE=podman
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --engine) ENGINE="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: $0 [--engine podman|docker] [--keep]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "container_smoke: run as root" >&2; exit 1; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=docker/versions.env
source "$REPO/docker/versions.env"
CUDA_DIR="$(readlink -f /usr/local/cuda)"
WORK="${WILSS_SMOKE_DIR:-/var/tmp/wilss-container-smoke}"
STANDIN_RUNTIME=localhost/wilss-standin-runtime:bookworm
STANDIN_DEVEL=localhost/wilss-standin-devel:bookworm
IMAGE=localhost/wilss:smoke
PIP_INDEXES="file:///opt/pypi/simple file:///opt/pypi-more/simple"
START=$SECONDS

say() { echo "[container_smoke $((SECONDS - START))s] $*"; }

install_tools() {
  local packages=(debootstrap)
  if [ "$ENGINE" = podman ]; then packages+=(podman buildah runc); else packages+=(docker.io); fi
  local missing=() package
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ "$ENGINE" = podman ] && [ ! -f /etc/containers/containers.conf ]; then
    # crun cannot run on a cgroup v1/v2 hybrid, and the default rlimits exceed what such VMs allow.
    mkdir -p /etc/containers
    printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' \
      >/etc/containers/containers.conf
  fi
  if [ "$ENGINE" = docker ] && ! docker info >/dev/null 2>&1; then
    say "starting dockerd"
    dockerd --data-root "$WORK/docker" --pidfile "$WORK/dockerd.pid" >"$WORK/dockerd.log" 2>&1 &
    for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  fi
}

# The builder stage (CUDA toolkit + torch) and the runtime stage's copy of its 6 GB environment (container, layer
# blob, layer) took 34 GB at the peak here. Builder stages of earlier builds stay behind as dangling images (7 GB
# each): they go first when space is short. Exit status 75 (EX_TEMPFAIL) = not enough space, nothing was built.
free_gb() { df --output=avail -BG "$1" | tail -1 | tr -dc '0-9'; }

check_free_space() {
  local store need="${WILSS_SMOKE_MIN_FREE_GB:-40}" free
  if [ "$ENGINE" = podman ]; then store="$(podman info --format '{{.Store.GraphRoot}}')"
  else store="$(docker info --format '{{.DockerRootDir}}')"; fi
  mkdir -p "$store"
  free=$(free_gb "$store")
  if [ "$free" -lt "$need" ]; then
    say "only ${free} GB free under $store: removing dangling images (old builder stages)"
    "$ENGINE" image prune -f >/dev/null
    free=$(free_gb "$store")
  fi
  if [ "$free" -lt "$need" ]; then
    echo "container_smoke: only ${free} GB free under $store (container storage), the build needs about ${need} GB." \
      "Free space (e.g. '$ENGINE system prune -af') or set WILSS_SMOKE_MIN_FREE_GB." >&2
    exit 75
  fi
  say "${free} GB free under $store"
}

have_image() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

dangling_images() { "$ENGINE" images -q --no-trunc --filter dangling=true | sort -u; }

# The builder stage stays behind as an untagged 7 GB image after every build: remove the ones this run made (and
# the smoke image), so repeated runs do not fill the disk. Images that were dangling before are left alone.
remove_build_leftovers() {
  [ "$KEEP" = 1 ] && return
  comm -13 <(echo "$DANGLING_BEFORE") <(dangling_images) | xargs -r "$ENGINE" rmi -f >/dev/null 2>&1 || true
  local image
  for image in "$IMAGE" "$STANDIN_DEVEL" "$STANDIN_RUNTIME"; do
    if have_image "$image"; then "$ENGINE" rmi -f "$image" >/dev/null 2>&1 || true; fi
  done
  rm -rf "$WORK/runs"
  say "removed this run's images, the stand-in bases and the run folder; $(free_gb "$WORK") GB free"
}

build_standins() {
  if ! have_image "$STANDIN_RUNTIME"; then
    say "debootstrap Debian bookworm (minbase)"
    rm -rf "$WORK/rootfs"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$WORK/rootfs" >/dev/null
    cp /etc/apt/sources.list.d/debian.sources "$WORK/rootfs/etc/apt/sources.list.d/" 2>/dev/null || true
    cp /etc/ssl/certs/ca-certificates.crt "$WORK/rootfs/etc/ssl/certs/ca-certificates.crt"
    mkdir -p "$WORK/rootfs/usr/local/cuda/lib64"
    cp -a "$CUDA_DIR"/targets/x86_64-linux/lib/*.so* "$WORK/rootfs/usr/local/cuda/lib64/"
    tar -C "$WORK/rootfs" -c . | "$ENGINE" import \
      --change "ENV PIP_EXTRA_INDEX_URL=\"$PIP_INDEXES\"" --change 'ENV PIP_FIND_LINKS=/opt/wheels' \
      --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
      --change 'ENV LD_LIBRARY_PATH=/usr/local/cuda/lib64' - "$STANDIN_RUNTIME" >/dev/null
    rm -rf "$WORK/rootfs"
  fi
  if ! have_image "$STANDIN_DEVEL"; then
    say "stand-in devel image: runtime stand-in + CUDA toolkit from $CUDA_DIR"
    mkdir -p "$WORK/devel"
    rm -rf "$WORK/devel/cuda" && cp -a "$CUDA_DIR" "$WORK/devel/cuda"
    printf 'FROM %s\nCOPY cuda /usr/local/cuda\nENV PATH=/usr/local/cuda/bin:$PATH\n' "$STANDIN_RUNTIME" \
      >"$WORK/devel/Containerfile"
    "$ENGINE" build -q -t "$STANDIN_DEVEL" -f "$WORK/devel/Containerfile" "$WORK/devel" >/dev/null
    rm -rf "$WORK/devel"
  fi
}

build_image() {
  say "building docker/Dockerfile as $IMAGE"
  local mounts=()
  if [ "$ENGINE" = podman ]; then  # docker format keeps SHELL; the mounts give the build this machine's index
    mounts=(--format docker -v /opt/pypi:/opt/pypi:ro -v /opt/pypi-more:/opt/pypi-more:ro -v /opt/wheels:/opt/wheels:ro)
  fi
  "$ENGINE" build --network=host "${mounts[@]}" -f "$REPO/docker/Dockerfile" -t "$IMAGE" \
    --build-arg BASE_DEVEL="$STANDIN_DEVEL" --build-arg BASE_RUNTIME="$STANDIN_RUNTIME" \
    --build-arg PYTHON_VERSION=3.11 --build-arg TORCH_INDEX_URL=file:///opt/pypi-more/simple \
    --build-arg TORCH_CUDA_ARCH_LIST=9.0 --build-arg MAX_JOBS=2 \
    --build-arg VCS_REF="$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)" \
    --build-arg BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$REPO"
}

label() { "$ENGINE" image inspect "$IMAGE" --format "{{index .Config.Labels \"$1\"}}"; }

run_demo() {
  # The run folder belongs to a uid the image does not know, as a user's folder on a cluster would (docker run --user).
  local runs="$WORK/runs" uid=4321
  rm -rf "$runs" && mkdir -p "$runs" && chown "$uid:$uid" "$runs"
  say "image: $("$ENGINE" image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.1f GB", $1 / 1e9}')," \
    "labels torch=$(label io.wilss.torch) revision=$(label org.opencontainers.image.revision)" \
    "created=$(label org.opencontainers.image.created)"
  [ "$(label org.opencontainers.image.revision)" != unknown ] || { echo "container_smoke: no revision label" >&2; exit 1; }
  say "default command:"
  "$ENGINE" run --rm "$IMAGE" | head -3
  say "InPlace-ABN check inside the image:"
  "$ENGINE" run --rm "$IMAGE" python -m wilss.doctor --inplace-abn
  say "compiler in the runtime stage: $("$ENGINE" run --rm "$IMAGE" sh -c 'command -v g++ nvcc || echo none')"
  # The README's workstation command for the demo, word for word, with this engine, image, uid and folder, and
  # overrides that shorten the chain.
  local line
  line="$(grep -m1 '^docker run .* wilss chain experiment=demo' "$REPO/README.md" | sed 's/ *#.*$//')"
  [ -n "$line" ] || { echo "container_smoke: README.md has no 'docker run ... wilss chain experiment=demo' line" >&2; exit 1; }
  line="${line/#docker/'"$ENGINE"'}"
  line="${line//wilss:0.1.0-cu13.0.1/'"$IMAGE"'}"
  line="${line//'$(id -u):$(id -g)'/'$uid:$uid'}"
  line="${line//'$PWD/runs'/'$runs'}"
  say "the README's demo command as uid $uid with /checkpoints mounted (shortened): $line"
  eval "$line" \
    dataset.generate.train=240 dataset.generate.val=60 train.epochs_base=3 train.epochs_incremental=2 \
    train.num_workers=0
  test -f "$runs"/synthetic-15-5/demo/results.md
  [ "$(stat -c %u "$runs"/synthetic-15-5/demo/results.md)" = "$uid" ]
  say "results on the host, owned by uid $uid:"
  cat "$runs"/synthetic-15-5/demo/results.md
}

mkdir -p "$WORK"
install_tools
check_free_space
build_standins
DANGLING_BEFORE="$(dangling_images)"
trap remove_build_leftovers EXIT
build_image
run_demo
say "container smoke test passed"
