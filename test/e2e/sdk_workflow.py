#!/usr/bin/env python3
"""Run an openstacksdk image workflow against the server named by the OS_* variables.

Usage: sdk_workflow.py QCOW2_FILE RAW_FILE NAME_PREFIX [RAW_VISIBILITY]

The script uploads both files as images (the qcow2 one private, the raw one with
RAW_VISIBILITY, default public), lists them with several filters, downloads them, deletes
them, and prints one JSON object that the calling test checks. The caller makes every
assertion. An SDK exception stops the script with a traceback and a non-zero exit status.
"""

import hashlib
import json
import sys
import time

import openstack


def file_digests(path):
    with open(path, "rb") as source:
        data = source.read()
    return {
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }


def wait_for_active(conn, image_id, timeout_seconds=30):
    """Poll the image until its status is neither queued nor saving, or the timeout passes."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        image = conn.image.get_image(image_id)
        if image.status not in ("queued", "saving") or time.monotonic() > deadline:
            return image
        time.sleep(0.2)


def names_with_prefix(images, prefix):
    return sorted(image.name for image in images if image.name.startswith(prefix))


def image_summary(image):
    return {
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "visibility": image.visibility,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "checksum": image.checksum,
        "hash_algo": image.hash_algo,
        "hash_value": image.hash_value,
        "tags": sorted(image.tags or []),
        "properties": image.properties or {},
    }


def main():
    qcow2_path, raw_path, prefix = sys.argv[1:4]
    raw_visibility = sys.argv[4] if len(sys.argv) > 4 else "public"
    conn = openstack.connect()
    summary = {
        "sdk_version": openstack.version.__version__,
        "verify": conn.session.verify,
        "image_endpoint": conn.image.get_endpoint(),
    }

    # With validate_checksum=True, create_image hashes the file, stores the hashes as
    # owner_specified.openstack.* properties, uploads with PUT, re-reads the image and raises
    # when the server's checksum differs from the local MD5. The returned object is that
    # re-read image. The image proxy in openstacksdk 0.101 ignores wait=True for a PUT upload,
    # so the script polls before it records the image.
    created_qcow2 = conn.image.create_image(
        name=f"{prefix}-qcow2",
        filename=qcow2_path,
        disk_format="qcow2",
        container_format="bare",
        visibility="private",
        tags=["sdk-e2e"],
        validate_checksum=True,
        wait=True,
    )
    summary["qcow2_created_status"] = created_qcow2.status
    qcow2_image = wait_for_active(conn, created_qcow2.id)
    summary["qcow2"] = image_summary(qcow2_image)

    # The cloud layer's create_image polls the image until it leaves queued/saving when
    # wait=True, so it returns the active image.
    raw_image = conn.create_image(
        name=f"{prefix}-raw",
        filename=raw_path,
        disk_format="raw",
        container_format="bare",
        visibility=raw_visibility,
        validate_checksum=True,
        wait=True,
        timeout=30,
    )
    summary["raw"] = image_summary(raw_image)

    summary["list"] = {
        "all": names_with_prefix(conn.image.images(), prefix),
        "private": names_with_prefix(conn.image.images(visibility="private"), prefix),
        "public": names_with_prefix(conn.image.images(visibility="public"), prefix),
        "shared": names_with_prefix(conn.image.images(visibility="shared"), prefix),
        "tag": names_with_prefix(conn.image.images(tag="sdk-e2e"), prefix),
        "name": names_with_prefix(conn.image.images(name=f"{prefix}-raw"), prefix),
        "status_active": names_with_prefix(conn.image.images(status="active"), prefix),
        "size_min": names_with_prefix(
            conn.image.images(size_min=summary["raw"]["size"]), prefix
        ),
        # limit=1 makes the server return one image per page, so the SDK must follow `next`.
        "paged": names_with_prefix(conn.image.images(limit=1), prefix),
    }
    summary["find_by_name"] = conn.image.find_image(f"{prefix}-qcow2").id

    # stream=False downloads into memory and raises InvalidResponse when the MD5 of the body
    # differs from the Content-MD5 header. Without that header, the SDK compares it with the
    # image checksum instead.
    downloads = {}
    for label, image, path in (
        ("qcow2", qcow2_image, qcow2_path),
        ("raw", raw_image, raw_path),
    ):
        response = conn.image.download_image(image, stream=False)
        body = response.content
        downloads[label] = {
            "content_md5": response.headers.get("Content-MD5"),
            "md5": hashlib.md5(body).hexdigest(),
            "sha256": hashlib.sha256(body).hexdigest(),
            "size": len(body),
            "local": file_digests(path),
        }
    summary["downloads"] = downloads

    conn.image.delete_image(qcow2_image, ignore_missing=False)
    conn.image.delete_image(raw_image.id, ignore_missing=False)
    summary["after_delete"] = {
        "find_qcow2": conn.image.find_image(qcow2_image.id) is not None,
        "find_raw": conn.image.find_image(raw_image.id) is not None,
        "listed": names_with_prefix(conn.image.images(), prefix),
    }

    json.dump(summary, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
