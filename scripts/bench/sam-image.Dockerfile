# Local stand-in for SAM's build image public.ecr.aws/sam/build-python3.11:latest-x86_64, made
# without a registry. The real image is Amazon Linux 2 + dev tools + SAM CLI in a venv at
# /usr/local/opt/sam-cli (which gives the `lambda-builders` entry point SAM runs). Here: Debian 12
# (python3.11 native, the same base as the fclayer build it is compared with) + pip +
# aws-lambda-builders pinned to the version the host's SAM CLI uses, at the same path.
ARG BASE=debian:12
FROM ${BASE}
ARG LAMBDA_BUILDERS_VERSION
# Environment only: SAM has no way to mount a file into its build container, so the CA of the
# TLS-intercepting proxy is baked in (copied into the build context by the benchmark).
COPY host-ca.crt /etc/ssl/certs/host-ca.crt
ENV PIP_CERT=/etc/ssl/certs/host-ca.crt \
    SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/host-ca.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LANG=C.UTF-8
RUN apt-get update && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-pip python3-venv python3-wheel python3-setuptools ca-certificates && \
    rm -rf /var/lib/apt/lists/*
# The real image's layout: /var/lang/bin holds the runtime's python on PATH.
RUN mkdir -p /var/lang/bin && ln -s /usr/bin/python3.11 /var/lang/bin/python3.11 && \
    ln -s /usr/bin/python3 /var/lang/bin/python3 && ln -s /usr/bin/python3 /var/lang/bin/python
RUN python3 -m venv /usr/local/opt/sam-cli && \
    /usr/local/opt/sam-cli/bin/pip install --no-cache-dir "aws-lambda-builders==${LAMBDA_BUILDERS_VERSION}"
ENV PATH=/var/lang/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/opt/sam-cli/bin
ENTRYPOINT []
CMD ["/bin/bash"]
