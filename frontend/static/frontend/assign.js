// The assignment form: choosing a group leaves only that team's people to pick (the others'
// options are disabled, not removed); "No group" offers everyone. Without this script every
// person stays listed under their team and the server refuses a mismatch.
(function () {
  "use strict";
  var group = document.getElementById("assign-group");
  var person = document.getElementById("assign-person");
  if (!group || !person) { return; }

  function follow() {
    var chosen = group.value;
    person.querySelectorAll("optgroup").forEach(function (team) {
      team.disabled = chosen !== "" && team.label !== chosen;
    });
    var selected = person.options[person.selectedIndex];
    if (selected && selected.parentElement.disabled) {
      // The person picked is not in the new group: pick them under it if they are, else nobody.
      var same = Array.prototype.find.call(person.options, function (option) {
        return option.value === selected.value && !option.parentElement.disabled;
      });
      person.value = "";
      if (same) { same.selected = true; }
    }
  }

  group.addEventListener("change", follow);
  follow();
})();
