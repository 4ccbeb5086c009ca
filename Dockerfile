FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir . && clickport --data-dir /data setup
EXPOSE 8000
CMD ["clickport", "--data-dir", "/data", "serve", "--host", "0.0.0.0", "--port", "8000"]
