"""Inventory and identity (reference §13.5, §13.6) over the device registry: the managed
object shape, filters, paging, delete, external ids, and what device principals (password,
client certificate, device token) may see: their own managed object only."""
import itertools

import pytest

import certhelp
from certhelp import assert_error
from pkiutil import TestPKI

MO_MEDIA = "application/vnd.com.nsn.cumulocity.managedobject+json"
_seq = itertools.count(1)


def bulk(session, csv):
    r = session.post("/devicecontrol/bulkNewDeviceRequests", files={"file": ("b.csv", csv)})
    assert r.status_code == 201, r.text
    assert r.json()["numberOfFailed"] == 0, r.text
    return r.json()


def mo_by_ext(session, ext, id_type="c8y_Serial"):
    r = session.get("/identity/externalIds/%s/%s" % (id_type, ext))
    assert r.status_code == 200, r.text
    mo = session.get(r.json()["managedObject"]["self"])
    assert mo.status_code == 200, mo.text
    return mo.json()


@pytest.fixture(scope="module")
def fleet(shared_server):
    """A tenant with five bulk-registered devices (three with fragments) and a password
    device user."""
    tid, admin = shared_server.create_tenant("fleet")
    bulk(admin, "ID\tAUTH_TYPE\tCREDENTIALS\tNAME\tTYPE\tIDTYPE\tICCID\t"
                "com_cumulocity_model_Agent.active\texternal-c8y_Imei\n"
                "sensor-1\tCERTIFICATES\t\tBoiler sensor\tc8y_Sensor\tc8y_Serial\t8944001\ttrue\timei-001\n"
                "sensor-2\tCERTIFICATES\t\tAttic sensor\tc8y_Sensor\tc8y_Serial\t8944002\ttrue\timei-002\n"
                "gw-1\tBASIC\tgw-secret-11\tGateway\tc8y_Gateway\tc8y_Serial\t\ttrue\t\n"
                "plain-1\tCERTIFICATES\t\t\t\t\t\t\t\n"
                "mac-1\tCERTIFICATES\t\tMAC box\tc8y_Box\tc8y_MAC\t\t\t\n")
    return tid, admin


def test_managed_object_shape(shared_server, fleet):
    tid, admin = fleet
    r = admin.get("/inventory/managedObjects", params={"type": "c8y_Sensor", "pageSize": 10})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(
        "application/vnd.com.nsn.cumulocity.managedobjectcollection+json")
    mos = r.json()["managedObjects"]
    assert [m["name"] for m in mos] == ["Boiler sensor", "Attic sensor"]
    m = mos[0]
    assert isinstance(m["id"], str) and m["id"].isdigit()
    assert m["self"] == "%s/inventory/managedObjects/%s" % (shared_server.base, m["id"])
    assert m["type"] == "c8y_Sensor" and m["owner"] == "device_sensor-1"
    assert m["creationTime"].endswith("Z") and m["lastUpdated"].endswith("Z")
    assert m["c8y_IsDevice"] == {}
    assert m["certgate_Registration"] == {"registration": "bulk", "authType": "CERTIFICATES",
                                          "externalId": {"type": "c8y_Serial",
                                                         "value": "sensor-1"}}
    assert m["c8y_Mobile"] == {"iccid": "8944001"}
    assert m["com_cumulocity_model_Agent"] == {"active": "true"}
    assert m["external-c8y_Imei"] == "imei-001"
    assert m["childDevices"] == {"self": m["self"] + "/childDevices", "references": []}

    one = admin.get(m["self"])
    assert one.status_code == 200 and one.headers["Content-Type"].startswith(MO_MEDIA)
    assert one.json() == m
    # A device without NAME is named by its id; without fragments it has only ours.
    p = mo_by_ext(admin, "plain-1")
    assert p["name"] == "plain-1" and "type" not in p and "c8y_Mobile" not in p
    gw = mo_by_ext(admin, "gw-1")
    assert gw["certgate_Registration"]["authType"] == "BASIC"
    assert "gw-secret-11" not in admin.get("/inventory/managedObjects?pageSize=100").text


def test_filters_and_paging(shared_server, fleet):
    tid, admin = fleet

    def names(**params):
        params.setdefault("pageSize", 100)
        r = admin.get("/inventory/managedObjects", params=params)
        assert r.status_code == 200, r.text
        return [m["name"] for m in r.json()["managedObjects"]]

    everything = names()
    assert everything == ["Boiler sensor", "Attic sensor", "Gateway", "plain-1", "MAC box"]
    assert names(fragmentType="c8y_IsDevice") == everything
    assert names(fragmentType="c8y_Mobile") == ["Boiler sensor", "Attic sensor"]
    assert names(fragmentType="com_cumulocity_model_Agent") == ["Boiler sensor", "Attic sensor",
                                                                 "Gateway"]
    assert names(fragmentType="c8y_Nothing") == []
    assert names(type="c8y_Gateway") == ["Gateway"]
    assert names(owner="device_sensor-2") == ["Attic sensor"]
    assert names(owner="admin") == []
    assert names(text="sensor") == ["Boiler sensor", "Attic sensor"]
    assert names(text="Attic") == ["Attic sensor"]
    assert names(text="50%") == []
    ids = [mo_by_ext(admin, e)["id"] for e in ("gw-1", "sensor-1")]
    assert names(ids=",".join(ids)) == ["Gateway", "Boiler sensor"]
    assert names(ids="999999") == []
    assert_error(admin.get("/inventory/managedObjects", params={"ids": "1,abc"}), 422,
                 "inventory/Invalid Data", "comma-separated")
    assert_error(admin.get("/inventory/managedObjects", params={"query": "name eq 'x'"}), 422,
                 "inventory/Invalid Data", "query parameter")

    r = admin.get("/inventory/managedObjects", params={"pageSize": 2, "withTotalElements": "true",
                                                       "withTotalPages": "true"}).json()
    assert r["statistics"] == {"currentPage": 1, "pageSize": 2, "totalPages": 3,
                               "totalElements": 5}
    seen = [m["name"] for m in r["managedObjects"]]
    while "next" in r:
        r = admin.get(r["next"]).json()
        seen += [m["name"] for m in r["managedObjects"]]
    assert seen == everything


def test_identity(shared_server, fleet):
    tid, admin = fleet
    r = admin.get("/identity/externalIds/c8y_Serial/sensor-1")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(
        "application/vnd.com.nsn.cumulocity.externalid+json")
    e = r.json()
    mo_id = e["managedObject"]["id"]
    assert e == {"externalId": "sensor-1", "type": "c8y_Serial",
                 "self": shared_server.base + "/identity/externalIds/c8y_Serial/sensor-1",
                 "managedObject": {"id": mo_id, "self": "%s/inventory/managedObjects/%s" % (
                     shared_server.base, mo_id)}}
    # The IDTYPE column, and an extra external-<type> column.
    assert admin.get("/identity/externalIds/c8y_MAC/mac-1").status_code == 200
    assert_error(admin.get("/identity/externalIds/c8y_Serial/mac-1"), 404, "identity/Not Found",
                 "External ID not found")
    extra = admin.get("/identity/externalIds/c8y_Imei/imei-001")
    assert extra.status_code == 200 and extra.json()["managedObject"]["id"] == mo_id
    assert_error(admin.get("/identity/externalIds/c8y_Imei/imei-00"), 404, "identity/Not Found")
    assert_error(admin.get("/identity/externalIds/c8y_Serial/nobody"), 404, "identity/Not Found")

    g = admin.get("/identity/globalIds/%s/externalIds" % mo_id)
    assert g.status_code == 200
    assert g.json()["self"] == "%s/identity/globalIds/%s/externalIds" % (shared_server.base, mo_id)
    assert sorted((x["type"], x["externalId"]) for x in g.json()["externalIds"]) == [
        ("c8y_Imei", "imei-001"), ("c8y_Serial", "sensor-1")]
    assert_error(admin.get("/identity/globalIds/999999/externalIds"), 404, "identity/Not Found",
                 "Global ID not found")


def test_missing_and_malformed_ids(shared_server, fleet):
    tid, admin = fleet
    for bad in ("999999", "abc", "-1", "1" * 25):
        assert_error(admin.get("/inventory/managedObjects/" + bad), 404, "inventory/Not Found",
                     "No managedObject for id '%s'" % bad)
        assert_error(admin.delete("/inventory/managedObjects/" + bad), 404, "inventory/Not Found")


def test_delete_removes_device_and_device_user(shared_server):
    tid, admin = shared_server.create_tenant("invdel%d" % next(_seq))
    bulk(admin, "ID;CREDENTIALS;AUTH_TYPE\ndoomed;doomed-secret-1;BASIC\nkept;kept-secret-11;BASIC\n")
    dev = shared_server.session("%s/device_doomed" % tid, "doomed-secret-1")
    assert dev.get("/user/currentUser").status_code == 200
    mo = mo_by_ext(admin, "doomed")
    r = admin.delete(mo["self"])
    assert r.status_code == 204 and r.content == b""
    assert_error(admin.get(mo["self"]), 404, "inventory/Not Found")
    assert_error(admin.get("/identity/externalIds/c8y_Serial/doomed"), 404, "identity/Not Found")
    assert_error(dev.get("/user/currentUser"), 401, "security/Unauthorized")
    assert_error(admin.get("/user/%s/users/device_doomed" % tid), 404, "users/Not Found")
    assert mo_by_ext(admin, "kept")["name"] == "kept"
    acts = [a["activity"] for a in admin.get("/audit/auditRecords", params={
        "type": "Inventory", "source": "doomed"}).json()["auditRecords"]]
    assert acts == ["Managed object deleted"]


def test_roles(shared_server, fleet):
    tid, admin = fleet
    r = admin.post("/user/%s/users" % tid, json={"userName": "noinv", "password": "noinv-secret-1",
                                                  "email": "n@example.com"})
    assert r.status_code == 201
    plain = shared_server.session("%s/noinv" % tid, "noinv-secret-1")
    mo = mo_by_ext(admin, "plain-1")
    for resp in (plain.get("/inventory/managedObjects"), plain.get(mo["self"]),
                 plain.delete(mo["self"]),
                 plain.get("/identity/externalIds/c8y_Serial/plain-1"),
                 plain.get("/identity/globalIds/%s/externalIds" % mo["id"])):
        assert_error(resp, 403, "security/Forbidden")
    # Reading the inventory does not allow reading identities, nor deleting.
    assert admin.post("/user/%s/users/noinv/roles" % tid,
                      json={"role": {"id": "ROLE_INVENTORY_READ"}}).status_code == 201
    assert plain.get(mo["self"]).status_code == 200
    assert_error(plain.delete(mo["self"]), 403, "security/Forbidden")
    assert_error(plain.get("/identity/externalIds/c8y_Serial/plain-1"), 403, "security/Forbidden")
    assert admin.get(mo["self"]).status_code == 200


def assert_sees_only(session, own_ext, own_id, other_id, other_ext):
    """A device principal: its own managed object and ids, and nothing of any other device
    (404 like a missing id, so it learns nothing)."""
    lst = session.get("/inventory/managedObjects", params={"pageSize": 100})
    assert lst.status_code == 200, lst.text
    assert [m["owner"] for m in lst.json()["managedObjects"]] == ["device_" + own_ext]
    assert session.get("/inventory/managedObjects/" + own_id).json()["owner"] == "device_" + own_ext
    assert session.get("/identity/externalIds/c8y_Serial/" + own_ext).json()[
        "managedObject"]["id"] == own_id
    assert session.get("/identity/globalIds/%s/externalIds" % own_id).status_code == 200
    assert_error(session.get("/inventory/managedObjects/" + other_id), 404, "inventory/Not Found")
    assert_error(session.get("/inventory/managedObjects/999999"), 404, "inventory/Not Found")
    assert_error(session.get("/identity/externalIds/c8y_Serial/" + other_ext), 404,
                 "identity/Not Found")
    assert_error(session.get("/identity/globalIds/%s/externalIds" % other_id), 404,
                 "identity/Not Found")
    for params in ({"owner": "device_" + other_ext}, {"ids": other_id}, {"text": other_ext}):
        r = session.get("/inventory/managedObjects", params=params)
        assert r.status_code == 200 and r.json()["managedObjects"] == [], params
    assert_error(session.delete("/inventory/managedObjects/" + own_id), 403, "security/Forbidden")
    assert_error(session.delete("/inventory/managedObjects/" + other_id), 403,
                 "security/Forbidden")


def test_password_device_sees_only_itself(shared_server, fleet):
    tid, admin = fleet
    gw = mo_by_ext(admin, "gw-1")
    other = mo_by_ext(admin, "sensor-1")
    dev = shared_server.session("%s/device_gw-1" % tid, "gw-secret-11")
    assert_sees_only(dev, "gw-1", gw["id"], other["id"], "sensor-1")
    assert admin.get(other["self"]).status_code == 200  # still there


def test_certificate_and_token_devices_see_only_themselves(shared_server, tmp_path):
    tid, admin = shared_server.create_tenant("invcert%d" % next(_seq))
    pki = TestPKI(tmp_path / "pki")
    root = pki.ca("root", "Inventory Test Root")
    bulkdev = pki.device("bulkdev", "inv-cert-bulk", issuer=root)
    autodev = pki.device("autodev", "inv-cert-auto", issuer=root)
    certhelp.upload_ok(admin, tid, root, autoRegistrationEnabled=True)
    bulk(admin, "ID;AUTH_TYPE;TYPE;NAME\ninv-cert-bulk;CERTIFICATES;c8y_Cert;Bulk cert device\n"
                "inv-other;CERTIFICATES;c8y_Cert;Someone else\n")
    other = mo_by_ext(admin, "inv-other")

    # Registered by bulk, authenticated by its client certificate.
    by_cert = shared_server.session(cert=(str(pki.chain_file("bulk-chain", bulkdev, root)),
                                          str(bulkdev.key_path)))
    own = mo_by_ext(admin, "inv-cert-bulk")
    assert_sees_only(by_cert, "inv-cert-bulk", own["id"], other["id"], "inv-other")

    # Auto-registered through the device access token, then using the token.
    auto = shared_server.session(cert=(str(pki.chain_file("auto-chain", autodev, root)),
                                       str(autodev.key_path)))
    r = auto.post("/devicecontrol/deviceAccessToken")
    assert r.status_code == 200, r.text
    token = shared_server.session()
    token.headers["Authorization"] = "Bearer " + r.json()["accessToken"]
    mo = mo_by_ext(admin, "inv-cert-auto")
    reg = mo["certgate_Registration"]
    assert reg["registration"] == "auto" and reg["authType"] == "CERTIFICATES"
    assert reg["trustedCertificate"] == root.fingerprint
    assert_sees_only(token, "inv-cert-auto", mo["id"], other["id"], "inv-other")
