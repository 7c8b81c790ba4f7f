"""sops_api.embedded_broker: producers and consumers in several threads share one folder, and every
message arrives whole, exactly once. kombu's own filesystem channel fails this (a consumer takes a file
its producer has created but not yet written), which killed Celery workers of the embedded default: with
kombu's channel in place of ours, `_exchange` below lost or broke messages in 5 rounds of 5, each with
JSONDecodeErrors (measured when the module was written)."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Connection

from sops_api import embedded_broker

QUEUE = "q"


def _connection(transport: Any, folder: Path) -> Connection:
    for sub in ("in", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return Connection("filesystem://", transport=transport, transport_options={
        "data_folder_in": str(folder / "in"), "data_folder_out": str(folder / "in"),
        "processed_folder": str(folder / "processed"), "control_folder": str(folder / "control"),
        "store_processed": False,
    })


def _exchange(transport: Any, folder: Path, producers: int = 4, consumers: int = 4,
              per_producer: int = 400) -> tuple[list[int], list[str]]:
    """Send numbered messages from several threads while others take them; (received, errors)."""
    received: list[int] = []
    errors: list[str] = []
    done = threading.Event()
    lock = threading.Lock()
    big = "x" * 20_000  # a write that takes long enough for a consumer to see the file half-written

    def produce(first: int) -> None:
        with _connection(transport, folder) as conn:
            channel = conn.default_channel
            for n in range(first, first + per_producer):
                channel._put(QUEUE, {"n": n, "pad": big})

    def consume() -> None:
        with _connection(transport, folder) as conn:
            channel = conn.default_channel
            while True:
                try:
                    payload = channel._get(QUEUE)
                except Empty:
                    if done.is_set():
                        return
                    time.sleep(0.001)  # let the producers run (the GIL) on a loaded machine
                    continue
                except Exception as exc:  # noqa: BLE001 - what the worker would die of
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    received.append(payload["n"])

    takers = [threading.Thread(target=consume) for _ in range(consumers)]
    for t in takers:
        t.start()
    makers = [threading.Thread(target=produce, args=(i * per_producer,)) for i in range(producers)]
    for t in makers:
        t.start()
    for t in makers:
        t.join()
    done.set()
    for t in takers:
        t.join(timeout=120)
    return received, errors


def test_every_message_arrives_whole_and_once(tmp_path: Path) -> None:
    received, errors = _exchange(embedded_broker.Transport, tmp_path)
    assert errors == []
    assert sorted(received) == list(range(4 * 400))
    assert os.listdir(tmp_path / "in") == [] and os.listdir(tmp_path / "processed") == []


def test_a_folder_that_cannot_be_written_is_a_channel_error(tmp_path: Path) -> None:
    from kombu.exceptions import ChannelError

    with _connection(embedded_broker.Transport, tmp_path) as conn:
        channel = conn.default_channel
        channel.data_folder_out = str(tmp_path / "missing")
        with pytest.raises(ChannelError, match="Cannot add file"):
            channel._put(QUEUE, {"n": 1})
    assert not any(name.startswith(embedded_broker.TEMP_PREFIX) for name in os.listdir(tmp_path / "in"))


def test_a_folder_that_cannot_be_read_is_an_empty_queue_until_it_is_back(tmp_path: Path, caplog: Any) -> None:
    """kombu's own channel lets the listing's OSError end the worker ("Unrecoverable error");
    here the outage is waited out, with one warning, and the messages are taken once it is back."""
    with _connection(embedded_broker.Transport, tmp_path) as conn:
        channel = conn.default_channel
        channel._put(QUEUE, {"n": 1})
        folder, away = tmp_path / "in", tmp_path / "in.away"
        os.replace(folder, away)
        folder.write_text("not a folder")
        with caplog.at_level("WARNING", logger="sops.broker"):
            for _ in range(3):
                with pytest.raises(Empty):
                    channel._get(QUEUE)
            folder.unlink()
            os.replace(away, folder)
            assert channel._get(QUEUE) == {"n": 1}
    messages = [r.getMessage() for r in caplog.records if r.name == "sops.broker"]
    assert len(messages) == 2 and "cannot read" in messages[0] and "readable again" in messages[1], messages
