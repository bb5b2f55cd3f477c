// Alert rule form: show only the fields the chosen condition uses. Without JavaScript every
// field shows and the server ignores the ones a condition does not use.
(function () {
  "use strict";
  const form = document.getElementById("rule-form");
  if (!form) return;
  const scoped = ["new_group", "failure_spike", "run_stuck", "items_pending"];
  const uses = {
    threshold: ["failure_spike", "items_pending"],
    window_minutes: ["failure_spike", "run_stuck", "items_pending", "sync_failing"],
    event_kind: ["event"],
    saved_view: scoped,
    filter_query: scoped,
  };
  const condition = form.querySelector("#id_condition");
  if (!condition) return;
  function update() {
    for (const [name, conditions] of Object.entries(uses)) {
      const input = form.querySelector("#id_" + name);
      const wrapper = input && input.closest("div");
      if (wrapper) wrapper.hidden = condition.value !== "" && !conditions.includes(condition.value);
    }
  }
  condition.addEventListener("change", update);
  update();
})();
