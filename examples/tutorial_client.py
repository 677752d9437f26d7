#!/usr/bin/env python3
"""The "Stable Diffusion API in 4 easy steps" tutorial against an sdapi server.

1. a bearer token: create one on the web page (My account -> Applications & tokens) or with
   `npx sdapi tokens create --email you@example.com --application my-app`
2. open a thread for stablediffusion_text2img
3. post a request entry (the tutorial's own request: 2 images, 1024x1024, 45 steps, neon-punk)
4. poll the thread's entries until the response entry is there, then download its images

Configuration, from the environment:
  SDAPI_TOKEN   the bearer token (required)
  SDAPI_URL     the server, default http://127.0.0.1:8080
  SDAPI_OUT     folder for the downloaded images, default ./sdapi-images
  SDAPI_WAIT_S  how long to wait for the images, default 600 seconds

Needs Python 3.8+ and requests (pip install requests, or apt-get install python3-requests).
"""
import os
import sys
import time

import requests


def main() -> int:
    token = os.environ.get("SDAPI_TOKEN")
    if not token:
        print("Set SDAPI_TOKEN to a bearer token (see the top of this file).", file=sys.stderr)
        return 2
    base = os.environ.get("SDAPI_URL", "http://127.0.0.1:8080").rstrip("/")
    out_dir = os.environ.get("SDAPI_OUT", "sdapi-images")
    wait_s = float(os.environ.get("SDAPI_WAIT_S", "600"))

    api = requests.Session()
    api.headers.update({"Accept": "application/json", "Authorization": f"Bearer {token}"})

    def call(method: str, path: str, **kwargs) -> dict:
        response = api.request(method, f"{base}/api/v1{path}", timeout=30, **kwargs)
        if response.status_code >= 400:
            raise SystemExit(f"{method} {path}: HTTP {response.status_code}: {response.text}")
        return response.json()

    # Step 2: a thread.
    thread = call("POST", "/threads", data={"ai_version_code": "stablediffusion_text2img"})["data"]
    print(f"thread {thread['guid']}: {thread['title']}")

    # Step 3: the request entry, form-encoded with bracket keys as in the tutorial.
    request = {
        "type": "request",
        "engine": "stable-diffusion-xl-1024-v0-9",
        "resolution": "1024x1024",
        "prompts[0][text]": "Delorean hacking time",  # what we want to see
        "prompts[0][weight]": 1,
        "prompts[1][text]": "Clock",  # what we want to avoid
        "prompts[1][weight]": -1,
        "images": 2,
        "steps": 45,
        "style": "neon-punk",
    }
    price = call("POST", "/quote", data=request)["data"]["credits"]
    entry = call("POST", f"/threads/{thread['guid']}/entry", data=request)["data"]
    print(f"request {entry['guid']}: {entry['status']}, {price} credits reserved")

    # Step 4: poll until the response entry is there (the server says when to ask again).
    deadline = time.monotonic() + wait_s
    while True:
        listing = api.get(f"{base}/api/v1/threads/{thread['guid']}/entries", timeout=30)
        listing.raise_for_status()
        entries = listing.json()["data"]
        response = next((e for e in entries if e["type"] == "response" and e.get("request_guid") == entry["guid"]), None)
        if response is not None:
            break
        if time.monotonic() > deadline:
            print(f"no response within {wait_s:.0f} s", file=sys.stderr)
            return 1
        progress = next((e.get("progress") for e in entries if e["guid"] == entry["guid"]), None)
        if progress:
            print(f"  step {progress['step']}/{progress['steps']}, image {progress['image'] + 1}/{progress['images']}")
        time.sleep(float(listing.headers.get("Retry-After", "1")))

    if response.get("error"):
        print(f"generation failed: {response['error']}", file=sys.stderr)
        return 1
    print(f"response {response['guid']}: {len(response['content'])} images, {response['credits']} credits")
    os.makedirs(out_dir, exist_ok=True)
    for image in response["content"]:
        picture = api.get(image["url"], timeout=60)
        picture.raise_for_status()
        path = os.path.join(out_dir, image["url"].rsplit("/", 1)[-1])
        with open(path, "wb") as file:
            file.write(picture.content)
        print(f"saved {path} ({image['dimensions']}, seed {image['seed']}, {len(picture.content)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
