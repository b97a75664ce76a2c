#!/bin/sh
# Entry point of the wilss image: run the command with a writable HOME.
# Under `docker run --user UID:GID` (so that files written to bind-mounted folders belong to the caller) the uid
# usually has no home in the image, and HOME is / or the image user's home, neither writable: the dataset index
# cache, Hydra, torch and matplotlib would fail on their first write. They get a private folder instead.
if [ ! -w "${HOME:-/}" ]; then
    HOME="$(mktemp -d /tmp/wilss-home.XXXXXX)"
    export HOME
fi
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$HOME/.cache}"
exec "$@"
