from firmware.edge.pairing import PAIRING_FILE, check_code, new_code


def test_code_is_six_digits_and_checks(tmp_path):
    code = new_code(tmp_path, now_s=1000.0)
    assert len(code) == 6 and code.isdigit()
    assert check_code(tmp_path, code, now_s=1001.0)
    assert not check_code(tmp_path, "000000" if code != "000000" else "111111", now_s=1001.0)
    assert (tmp_path / PAIRING_FILE).stat().st_mode & 0o777 == 0o600


def test_code_expires_and_is_replaced(tmp_path):
    old = new_code(tmp_path, now_s=0.0, ttl_s=10)
    assert not check_code(tmp_path, old, now_s=11.0)
    new = new_code(tmp_path, now_s=20.0, ttl_s=10)
    assert check_code(tmp_path, new, now_s=21.0)


def test_missing_or_corrupt_file_never_pairs(tmp_path):
    assert not check_code(tmp_path, "123456")
    (tmp_path / PAIRING_FILE).write_text("{not json")
    assert not check_code(tmp_path, "123456")
