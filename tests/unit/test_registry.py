import pytest

from laserlab.registry import Registry, check_options


def make_widget(size: int, *, colour: str = "red"):
    return (size, colour)


def open_widget(size: int, **extras):
    return (size, extras)


def test_register_lookup_and_build():
    widgets = Registry("widget", {"plain": make_widget})
    assert widgets.register("open", open_widget) is open_widget

    @widgets.register("decorated")
    def decorated(*, size: int = 1):
        return size

    assert list(widgets) == ["plain", "open", "decorated"] and len(widgets) == 3
    assert widgets.names() == ["decorated", "open", "plain"]
    assert "plain" in widgets and "square" not in widgets
    assert widgets["plain"] is make_widget and dict(widgets.items())["decorated"] is decorated
    assert widgets.build("plain", size=2, colour="blue") == (2, "blue")
    assert widgets.build("open", size=2, shiny=True) == (2, {"shiny": True})  # **extras takes any name
    assert widgets.build("decorated") == 1


def test_errors_have_one_form():
    widgets = Registry("widget", {"plain": make_widget})
    with pytest.raises(ValueError, match=r"^widget name must be one of \['plain'\]; got 'square'$"):
        widgets["square"]
    with pytest.raises(ValueError, match=r"^data.name must be one of \['plain'\]; got 'square'$"):
        widgets.check("square", "data.name")
    with pytest.raises(
        ValueError,
        match=r"widget 'plain' has no option\(s\) \['color'\]; valid options: \['size', 'colour'\]",
    ):
        widgets.build("plain", size=1, color="blue")
    with pytest.raises(ValueError, match=r"widget 'plain' needs option\(s\) \['size'\]; valid options"):
        widgets.build("plain")
    with pytest.raises(ValueError, match="widget name 'plain' is already registered"):
        widgets.register("plain", open_widget)
    with pytest.raises(TypeError, match="a widget name must be a non-empty str"):
        widgets.register(3, open_widget)


def test_check_options_leaves_provided_names_to_the_caller():
    check_options(make_widget, {"colour": "blue"}, "widget", provided=("size",))
    with pytest.raises(
        ValueError, match=r"widget has no option\(s\) \['shade'\]; valid options: \['colour'\]"
    ):
        check_options(make_widget, {"shade": 1}, "widget", provided=("size",))
