# Plain Debian 12 (bookworm) with its python3.11 and pip: the container of the manual FC
# procedure (docker run + pip install --target + docker cp + zip -r), and the source of the pack
# section's real tree. No CA is baked in: the benchmark mounts the host's bundle at run time.
ARG BASE=debian:12
FROM ${BASE}
RUN apt-get update && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-pip ca-certificates && \
    rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore LANG=C.UTF-8
CMD ["/bin/bash"]
