def test_casework_server_sqlite(casework_server):
    server = casework_server()
    s = server.login("a1")
    r = s.get(server.url + "/api/alerts/")
    assert r.status_code == 200 and r.json()["count"] > 0
