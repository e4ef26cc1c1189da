"""An event-producing DeepLens integration in Python, on stock Confluent clients only.

It does what docs/integrations.md describes, and nothing it does comes from DeepLens's code:

  1. signs in (a tenant admin) and registers a fresh Ed25519 public key as an intake key;
  2. uploads the image's bytes (POST /v1/uploads) and gets an object reference;
  3. writes a RegisterImage intake record with confluent-kafka's AvroSerializer (the bundled,
     self-contained schemas/intake/IntakeEnvelope.avsc; TopicRecordNameStrategy), keyed by the
     tenant id, signed in its headers: Ed25519 over the value without its first byte;
  4. follows the request (GET /v1/intake/{requestId}) to its image id, then the image
     (GET /v1/images/{id} on the read API) to `indexed`;
  5. reads the image's events from deeplens.image.v1 with AvroDeserializer.

Configuration comes from the environment (see README.md); the image path is the argument.
Progress goes to stderr; the last line on stdout is one JSON object with the result.
"""

import json
import os
import secrets
import sys
import time
import uuid

import requests
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_FILE = os.environ.get(
    "INTAKE_SCHEMA", os.path.join(HERE, "..", "..", "schemas", "intake", "IntakeEnvelope.avsc")
)


def log(message, **fields):
    print(json.dumps({"msg": message, **fields}), file=sys.stderr, flush=True)


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        sys.exit(f"set {name}")
    return value


def checked(response, *statuses):
    if response.status_code not in statuses:
        sys.exit(f"{response.request.method} {response.url}: HTTP {response.status_code} {response.text}")
    return response.json() if response.content else None


def main(image_path):
    write_url = env("DEEPLENS_WRITE_URL", "http://127.0.0.1:8080")
    read_url = env("DEEPLENS_READ_URL", "http://127.0.0.1:8090")
    tenant_id = env("DEEPLENS_TENANT_ID")
    prefix = env("KAFKA_TOPIC_PREFIX", "")
    intake_topic = f"{prefix}deeplens.intake.v1"
    image_topic = f"{prefix}deeplens.image.v1"
    timeout = float(env("DEEPLENS_TIMEOUT_SECONDS", "180"))

    http = requests.Session()
    token = checked(
        http.post(
            f"{write_url}/v1/auth/token",
            json={"grant_type": "password", "email": env("DEEPLENS_EMAIL"), "password": env("DEEPLENS_PASSWORD")},
        ),
        200,
    )["access_token"]
    http.headers["authorization"] = f"Bearer {token}"

    # 1. An intake key: DeepLens keeps the public half; the private half never leaves here.
    private_key = Ed25519PrivateKey.generate()
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    key = checked(
        http.post(
            f"{write_url}/v1/tenants/{tenant_id}/intake-keys",
            json={"name": "python example", "publicKey": public_pem},
        ),
        201,
    )
    log("intake key registered", keyId=key["id"])

    # 2. The bytes.
    with open(image_path, "rb") as f:
        image = f.read()
    upload = checked(
        http.post(f"{write_url}/v1/uploads", files={"file": (os.path.basename(image_path), image, "image/jpeg")}),
        201,
    )
    log("uploaded", objectKey=upload["objectKey"], sha256=upload["sha256"])

    # 3. The intake record, with the stock serializer and the bundled schema, as it is.
    registry = SchemaRegistryClient({"url": env("SCHEMA_REGISTRY_URL", "http://127.0.0.1:18081/apis/ccompat/v7")})
    with open(SCHEMA_FILE) as f:
        schema_str = f.read()
    serializer = AvroSerializer(
        registry,
        schema_str,
        conf={
            # DeepLens registers the intake subject when it starts: look it up, never register.
            "auto.register.schemas": False,
            "subject.name.strategy": topic_record_subject_name_strategy,
        },
    )
    request_id = str(uuid.uuid4())
    envelope = {
        "requestId": request_id,
        "tenantId": tenant_id,
        "command": (
            "deeplens.intake.RegisterImage",
            {
                "objectKey": upload["objectKey"],
                "sha256": upload["sha256"],
                "mime": upload["mime"],
                "bytes": upload["bytes"],
                "width": upload["width"],
                "height": upload["height"],
                "filename": os.path.basename(image_path),
                "tags": ["python"],
                # Insertion order is kept on the wire; the signature covers the bytes as written.
                "attributes": {"camera": "X100V", "2024": "yes"},
            },
        ),
    }
    value = serializer(envelope, SerializationContext(intake_topic, MessageField.VALUE))
    signature = private_key.sign(value[1:])  # schema id + Avro body: everything but the magic byte
    traceparent = os.environ.get("TRACEPARENT") or f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
    producer = Producer({"bootstrap.servers": env("KAFKA_BROKERS", "127.0.0.1:19092"), "acks": "all"})
    delivered = []
    producer.produce(
        intake_topic,
        key=tenant_id.encode(),
        value=value,
        headers=[
            ("deeplens-key-id", key["id"].encode()),
            ("deeplens-signature", signature),
            ("traceparent", traceparent.encode()),
        ],
        on_delivery=lambda err, msg: delivered.append(err),
    )
    producer.flush(30)
    if delivered != [None]:
        sys.exit(f"the intake record was not delivered: {delivered}")
    log("intake record produced", requestId=request_id, traceparent=traceparent)

    # 4. Its outcome, then the image.
    deadline = time.monotonic() + timeout
    while True:
        outcome = checked(http.get(f"{write_url}/v1/intake/{request_id}"), 200)
        if outcome["status"] == "rejected":
            sys.exit(f"rejected: {outcome['code']}: {outcome['reason']}")
        if outcome["status"] == "accepted":
            break
        if time.monotonic() > deadline:
            sys.exit("the intake record is still pending")
        time.sleep(0.25)
    image_id = outcome["imageId"]
    log("accepted", imageId=image_id)
    while True:
        response = http.get(f"{read_url}/v1/images/{image_id}")
        if response.status_code == 200 and response.json()["status"] == "indexed":
            break
        if response.status_code == 200 and response.json()["status"] == "failed":
            sys.exit(f"the image failed: {response.text}")
        if time.monotonic() > deadline:
            sys.exit(f"the image is not indexed in time: {response.status_code} {response.text}")
        time.sleep(0.5)
    log("indexed", imageId=image_id)

    # 5. The image's events, decoded with the stock deserializer; the record name says which.
    deserializer = AvroDeserializer(registry)
    consumer = Consumer(
        {
            "bootstrap.servers": env("KAFKA_BROKERS", "127.0.0.1:19092"),
            "group.id": f"python-intake-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([image_topic])
    events = []
    try:
        while time.monotonic() < deadline and "ImageEmbedded" not in [e["type"] for e in events]:
            message = consumer.poll(1.0)
            if message is None or message.error() or message.key() != image_id.encode():
                continue
            schema_id = int.from_bytes(message.value()[1:5], "big")
            record_name = json.loads(registry.get_schema(schema_id).schema_str)["name"]
            event = deserializer(message.value(), SerializationContext(image_topic, MessageField.VALUE))
            events.append({"type": record_name.split(".")[-1], "version": event["metadata"]["aggregateVersion"]})
            log("event", type=events[-1]["type"], version=events[-1]["version"])
    finally:
        consumer.close()

    print(
        json.dumps(
            {
                "requestId": request_id,
                "imageId": image_id,
                "status": "indexed",
                "keyId": key["id"],
                "traceparent": traceparent,
                "events": events,
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: intake.py IMAGE.jpg")
    main(sys.argv[1])
