"""Publishing over HTTPS (issue 5): a device, by client certificate or device token, or an
application user publishes into its tenant's MQTT namespace under the MQTT ACL; MQTT
subscribers receive it."""
import pytest

from test_mqtt import Client, Fleet, require_mqtt
from pkiutil import TestPKI

PUBLISH = "/mqtt/publish"


@pytest.fixture(scope="module")
def srv(shared_server):
    require_mqtt(shared_server)
    return shared_server


@pytest.fixture(scope="module")
def fleet(srv, tmp_path_factory):
    return Fleet(srv, TestPKI(tmp_path_factory.mktemp("publish-pki")))


@pytest.fixture
def listener(srv, fleet):
    """An application user of the tenant subscribed to devices/#."""
    c = Client(srv, "app-listener", user=fleet.user, password=fleet.password)
    assert c.connect()[0] == 0
    c.subscribe("devices/#", qos=1)
    yield c
    c.disconnect()


def device_session(srv, fleet, cn):
    dev, chain = fleet.device(cn)
    return srv.session(cert=(str(chain), str(dev.key_path)))


def test_device_publishes_with_its_certificate(srv, fleet, listener):
    s = device_session(srv, fleet, "pub-cert-1")
    r = s.post(PUBLISH, params={"topic": "devices/pub-cert-1/temp", "qos": "1"}, data=b"21.5")
    assert r.status_code == 200, r.text
    assert r.json() == {"topic": "devices/pub-cert-1/temp", "qos": 1, "retain": False,
                        "bytes": 4}
    m = listener.get()
    assert m.topic == "devices/pub-cert-1/temp" and m.payload == b"21.5" and m.qos == 1


def test_device_publishes_with_its_token(srv, fleet, listener):
    s = device_session(srv, fleet, "pub-tok-1")
    token = s.post("/devicecontrol/deviceAccessToken").json()["accessToken"]
    b = srv.session()
    b.headers["Authorization"] = "Bearer " + token
    r = b.post(PUBLISH, params={"topic": "devices/pub-tok-1/state", "qos": "0"},
               data=b'{"on":true}')
    assert r.status_code == 200, r.text
    m = listener.get()
    assert m.topic == "devices/pub-tok-1/state" and m.payload == b'{"on":true}'


def test_acl_applies_over_https(srv, fleet, listener):
    s = device_session(srv, fleet, "pub-acl-1")
    r = s.post(PUBLISH, params={"topic": "devices/someone-else/temp"}, data=b"x")
    assert r.status_code == 403, r.text
    r = s.post(PUBLISH, params={"topic": "broadcast/all"}, data=b"x")
    assert r.status_code == 403
    listener.nothing()


def test_application_user_may_publish_anywhere_in_its_tenant(srv, fleet, listener):
    app = srv.session(fleet.user, fleet.password)
    r = app.post(PUBLISH, params={"topic": "devices/pub-cert-1/cmd", "qos": "1",
                                  "retain": "true"}, data=b"reboot")
    assert r.status_code == 200, r.text
    assert listener.get().payload == b"reboot"
    # retained: a new subscriber gets it; an empty retained message deletes it
    late = Client(srv, "app-late", user=fleet.user, password=fleet.password)
    assert late.connect()[0] == 0
    late.subscribe("devices/pub-cert-1/cmd")
    m = late.get()
    assert m.payload == b"reboot" and m.retain
    late.disconnect()
    r = app.post(PUBLISH, params={"topic": "devices/pub-cert-1/cmd", "retain": "true"}, data=b"")
    assert r.status_code == 200


def test_bad_requests(srv, fleet):
    app = srv.session(fleet.user, fleet.password)
    assert app.post(PUBLISH, data=b"x").status_code == 422
    assert app.post(PUBLISH, params={"topic": "a/#"}, data=b"x").status_code == 422
    assert app.post(PUBLISH, params={"topic": "$SYS/x"}, data=b"x").status_code == 403
    assert app.post(PUBLISH, params={"topic": "a", "qos": "2"}, data=b"x").status_code == 422
    assert srv.session().post(PUBLISH, params={"topic": "a"}, data=b"x").status_code == 401


def test_tenants_stay_isolated_over_https(srv, fleet, listener):
    other_tid, other_admin = srv.create_tenant("pub-other-%s" % fleet.t)
    r = other_admin.post(PUBLISH, params={"topic": "devices/pub-cert-1/temp"}, data=b"nope")
    assert r.status_code == 200
    listener.nothing()
