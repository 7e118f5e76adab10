from emobench.miniature import _suffix


def test_each_non_default_setting_names_its_own_cached_pack():
    assert _suffix("dfew", {}) == ""
    assert _suffix("dfew", {"frames": 16}) == ""  # DFEW's own default
    assert _suffix("mafw", {"frames": 32, "stride": 2}) == "-frames=32-stride=2"
    assert _suffix("masked", {"apex": "motion", "frames": 8}) == "-apex=motion"
