"""The floor: one int var, one increment event, a button and a text showing the count."""

import reflex as rx


class CounterState(rx.State):
    count: int = 0

    @rx.event
    def increment(self):
        self.count += 1


def index() -> rx.Component:
    return rx.container(
        rx.button("Increment", id="increment", on_click=CounterState.increment),
        rx.text(CounterState.count, id="count"),
    )


app = rx.App()
app.add_page(index, route="/", title="Floor")
