# One image per service: docker build --build-arg SERVICE=enrolment -t wps-enrolment .
# (Multi-stage hardening, healthchecks and pinned digests come with the production-shape issue.)
FROM python:3.11-slim
ARG SERVICE
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 SERVICE=${SERVICE}
WORKDIR /app
COPY constraints.txt ./
COPY libs/common libs/common
COPY services/${SERVICE} services/${SERVICE}
RUN pip install --no-cache-dir -c constraints.txt ./libs/common ./services/${SERVICE} \
 && useradd --system --uid 10001 wps
USER 10001
EXPOSE 8000
CMD ["sh", "-c", "exec wps-${SERVICE} serve --host 0.0.0.0 --port 8000"]
