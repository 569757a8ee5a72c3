# syntax=docker/dockerfile:1
# One image per service, and one for the portal, from one recipe (they differ only in their
# package; the portal's templates, static files and catalogues are package data of its wheel):
#   docker build --build-arg SERVICE=enrolment -t wps-enrolment .
#   docker build --build-arg SERVICE=portal -t wps-portal .
# See docs/adr/0011-container-images.md.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
RUN case "${SERVICE}" in curriculum|enrolment|certification|webhooks|portal) ;; \
      *) echo "build with --build-arg SERVICE=<curriculum|enrolment|certification|webhooks|portal>"; false ;; esac
WORKDIR /src
COPY constraints.txt ./
COPY libs/common libs/common
COPY services/${SERVICE} services/${SERVICE}
RUN python -m venv /opt/wps \
 && /opt/wps/bin/pip install --no-cache-dir --disable-pip-version-check \
      -c constraints.txt ./libs/common ./services/${SERVICE}

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/wps/bin:$PATH \
    SERVICE=${SERVICE} WPS_ENVIRONMENT=production
RUN groupadd --system --gid 10001 wps && useradd --system --uid 10001 --gid wps --no-create-home wps
COPY --from=build /opt/wps /opt/wps
WORKDIR /var/lib/wps
RUN chown wps:wps /var/lib/wps
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["sh", "-c", "exec wps-${SERVICE} serve --host 0.0.0.0 --port 8000"]
